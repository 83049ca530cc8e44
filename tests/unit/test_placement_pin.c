/* Unit tests for placement/pin.c (the per-partition leader pinning state
 * machine) and pl_follower_read_decide() (the follower-read rule). */
#include <check.h>
#include <string.h>

#include "common/sl_common.h"
#include "placement/placement.h"

#define ELECTION_MS 1000

/* Three regions a, b, c with one broker each (ids 1, 2, 3), preference
 * regions:a,b,c, default tunables. */
struct pin_fixture {
	struct pl_topology *t;
	struct pl_preference pref;
	struct pl_config cfg;
	struct pl_pin pin;
	struct pl_pin_voter v[3];
	struct pl_pin_input in;
};

static void pin_setup(struct pin_fixture *f, int32_t self, int64_t now)
{
	static const struct pl_broker br[] = {
	    {1, "a", "a-1", true},
	    {2, "b", "b-1", true},
	    {3, "c", "c-1", true},
	};
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(pl_topology_new(br, 3, &f->t, NULL, 0), 0);
	ck_assert_int_eq(pl_preference_parse("regions:a,b,c", &f->pref, NULL, 0), 0);
	pl_config_init(&f->cfg);
	pl_pin_init(&f->pin);
	for (int i = 0; i < 3; i++) {
		/* Caught up, heard from 10 ms ago, alive for a minute. */
		f->v[i] = (struct pl_pin_voter){i + 1, 500, 10, now - 60000};
	}
	f->in = (struct pl_pin_input){
	    .topology = f->t,
	    .preference = &f->pref,
	    .config = &f->cfg,
	    .self_id = self,
	    .last_index = 500,
	    .voters = f->v,
	    .n_voters = 3,
	    .now_ms = now,
	};
}

START_TEST(pin_notes_role_changes)
{
	struct pin_fixture f;
	pin_setup(&f, 2, 100000);
	ck_assert_int_eq(f.pin.role, PL_ROLE_UNKNOWN);
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_FOLLOWER, 3, 5, ELECTION_MS, &f.cfg, 1000));
	ck_assert(!pl_pin_note_role(&f.pin, PL_ROLE_FOLLOWER, 3, 5, ELECTION_MS, &f.cfg, 1500));
	ck_assert_int_eq(f.pin.changed_at_ms, 1000);
	/* A new term is a change even in the same role. */
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_FOLLOWER, 4, 5, ELECTION_MS, &f.cfg, 2000));
	ck_assert_int_eq(f.pin.last_change_ms, 2000);
	/* Elected while the old leader was heard from recently: a hand-over,
	 * the cool-down counts from now. */
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_LEADER, 5, ELECTION_MS - 1, ELECTION_MS, &f.cfg,
				   3000));
	ck_assert_int_eq(f.pin.last_change_ms, 3000);
	ck_assert(!f.pin.seed_streaks);
	/* Elected after a whole election timeout of silence: a failover, no
	 * cool-down and streaks seeded from liveness. */
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_FOLLOWER, 6, 5, ELECTION_MS, &f.cfg, 4000));
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_LEADER, 7, ELECTION_MS, ELECTION_MS, &f.cfg,
				   5000));
	ck_assert_int_eq(f.pin.last_change_ms, 5000 - f.cfg.transfer_cool_down_ms);
	ck_assert_int_eq(f.pin.changed_at_ms, 5000);
	ck_assert(f.pin.seed_streaks);
	/* Never heard from a leader counts as silence too. */
	pl_pin_init(&f.pin);
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_LEADER, 1, -1, ELECTION_MS, &f.cfg, 10));
	ck_assert(f.pin.seed_streaks);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(pin_failover_hands_over_at_once)
{
	int64_t now = 100000;
	struct pin_fixture f;
	pin_setup(&f, 2, now);
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_LEADER, 7, -1, ELECTION_MS, &f.cfg, now));
	ck_assert(pl_pin_evaluate(&f.pin, &f.in));
	ck_assert_int_eq(f.pin.decision.action, PL_LEADER_TRANSFER);
	ck_assert_int_eq(f.pin.decision.target_id, 1);
	ck_assert(!f.pin.compliant);
	ck_assert(!f.pin.seed_streaks); /* every voter answered: streaks observed now */
	ck_assert_int_eq(f.pin.last_eval_ms, now);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(pin_hand_over_waits_cool_down_and_streak)
{
	int64_t now = 100000;
	struct pin_fixture f;
	pin_setup(&f, 2, now);
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_LEADER, 7, 10, ELECTION_MS, &f.cfg, now));
	ck_assert(pl_pin_evaluate(&f.pin, &f.in));
	/* Streaks start now: voter 1 is not ready yet. */
	ck_assert_int_eq(f.pin.decision.action, PL_LEADER_STAY);
	ck_assert_int_eq(f.pin.decision.reason, PL_LEADER_NONE_READY);
	/* Ready after transfer_healthy_min_ms, still inside the cool-down. */
	f.in.now_ms = now + f.cfg.transfer_healthy_min_ms;
	ck_assert(pl_pin_evaluate(&f.pin, &f.in));
	ck_assert_int_eq(f.pin.decision.reason, PL_LEADER_COOL_DOWN);
	ck_assert_int_eq(f.pin.decision.target_id, 1);
	f.in.now_ms = now + f.cfg.transfer_cool_down_ms;
	ck_assert(pl_pin_evaluate(&f.pin, &f.in));
	ck_assert_int_eq(f.pin.decision.action, PL_LEADER_TRANSFER);
	/* One unhealthy observation breaks the streak. */
	f.v[0].last_contact_age_ms = f.cfg.transfer_contact_age_max_ms + 1;
	f.in.now_ms += 1;
	ck_assert(pl_pin_evaluate(&f.pin, &f.in));
	ck_assert_int_eq(f.pin.decision.reason, PL_LEADER_NONE_READY);
	f.v[0].last_contact_age_ms = 10;
	f.in.now_ms += 1;
	ck_assert(pl_pin_evaluate(&f.pin, &f.in));
	ck_assert_int_eq(f.pin.decision.reason, PL_LEADER_NONE_READY);
	/* A role change forgets the streaks. */
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_FOLLOWER, 8, 10, ELECTION_MS, &f.cfg,
				   f.in.now_ms));
	ck_assert(!f.pin.decided);
	for (int i = 0; i < f.pin.n_peers; i++) {
		ck_assert(f.pin.peers[i].healthy_since_ms == PL_TIME_NEVER);
	}
	pl_topology_free(f.t);
}
END_TEST

START_TEST(pin_unprobed_voter_is_no_candidate)
{
	int64_t now = 100000;
	struct pin_fixture f;
	pin_setup(&f, 3, now);
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_LEADER, 7, -1, ELECTION_MS, &f.cfg, now));
	f.v[0].match_index = 0; /* broker 1 has not answered yet */
	ck_assert(pl_pin_evaluate(&f.pin, &f.in));
	ck_assert_int_eq(f.pin.decision.action, PL_LEADER_TRANSFER);
	ck_assert_int_eq(f.pin.decision.target_id, 2);
	ck_assert(f.pin.seed_streaks); /* still waiting for broker 1 */
	pl_topology_free(f.t);
}
END_TEST

START_TEST(pin_decides_only_on_a_working_leader)
{
	int64_t now = 100000;
	struct pin_fixture f;
	pin_setup(&f, 1, now);
	ck_assert(!pl_pin_evaluate(&f.pin, &f.in)); /* role unknown */
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_FOLLOWER, 2, 5, ELECTION_MS, &f.cfg, now));
	ck_assert(!pl_pin_evaluate(&f.pin, &f.in));
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_LEADER, 3, 5, ELECTION_MS, &f.cfg, now));
	f.in.failed = true;
	ck_assert(!pl_pin_evaluate(&f.pin, &f.in));
	ck_assert(!f.pin.decided);
	f.in.failed = false;
	ck_assert(pl_pin_evaluate(&f.pin, &f.in));
	ck_assert_int_eq(f.pin.decision.reason, PL_LEADER_ALREADY_PREFERRED);
	ck_assert(f.pin.compliant);
	/* No voters, or a leader missing from them: nothing decided. */
	f.in.n_voters = 0;
	ck_assert(!pl_pin_evaluate(&f.pin, &f.in));
	f.in.n_voters = 3;
	f.in.self_id = 9;
	ck_assert(!pl_pin_evaluate(&f.pin, &f.in));
	pl_topology_free(f.t);
}
END_TEST

START_TEST(pin_eval_due_after_changes_only)
{
	struct pin_fixture f;
	pin_setup(&f, 1, 0);
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_LEADER, 3, 5, ELECTION_MS, &f.cfg, 10000));
	ck_assert(pl_pin_eval_due(&f.pin, 10000));
	f.in.now_ms = 10000;
	(void)pl_pin_evaluate(&f.pin, &f.in);
	ck_assert(!pl_pin_eval_due(&f.pin, 10000 + PL_PIN_EVAL_MIN_MS - 1));
	ck_assert(pl_pin_eval_due(&f.pin, 10000 + PL_PIN_EVAL_MIN_MS));
	ck_assert(!pl_pin_eval_due(&f.pin, 10000 + PL_PIN_EVAL_FRESH_MS));
	pl_topology_free(f.t);
}
END_TEST

START_TEST(pin_peer_table_is_bounded)
{
	struct pin_fixture f;
	pin_setup(&f, 1, 100000);
	ck_assert(pl_pin_note_role(&f.pin, PL_ROLE_LEADER, 3, -1, ELECTION_MS, &f.cfg, 100000));
	/* Voters come and go (moves); the table keeps PL_PIN_PEERS_MAX. */
	for (int32_t base = 10; base < 10 + 3 * PL_PIN_PEERS_MAX; base++) {
		f.v[1].broker_id = base;
		(void)pl_pin_evaluate(&f.pin, &f.in);
	}
	ck_assert_int_eq(f.pin.n_peers, PL_PIN_PEERS_MAX);
	pl_topology_free(f.t);
}
END_TEST

START_TEST(follower_read_rule)
{
	struct pl_follower_view v = {true, 1000, 100, 200};
	/* Heard 400 ms ago, bound 500: serve below the hwm, wait at it. */
	ck_assert_int_eq(pl_follower_read_decide(&v, 1400, 500, 150), PL_FOLLOWER_SERVE);
	ck_assert_int_eq(pl_follower_read_decide(&v, 1400, 500, 200), PL_FOLLOWER_WAIT);
	ck_assert_int_eq(pl_follower_read_decide(&v, 1400, 500, 99), PL_FOLLOWER_OUT_OF_RANGE);
	/* Exactly at the bound still serves; one ms later refuses. */
	ck_assert_int_eq(pl_follower_read_decide(&v, 1500, 500, 150), PL_FOLLOWER_SERVE);
	ck_assert_int_eq(pl_follower_read_decide(&v, 1501, 500, 150), PL_FOLLOWER_REFUSE_STALE);
	/* Follower reads disabled. */
	ck_assert_int_eq(pl_follower_read_decide(&v, 1001, -1, 150), PL_FOLLOWER_REFUSE_STALE);
	/* A clock that went backwards counts as age 0. */
	ck_assert_int_eq(pl_follower_read_decide(&v, 900, 0, 150), PL_FOLLOWER_SERVE);
	/* Never heard from a leader, or no known leader: refuse. */
	v.last_leader_contact_ms = 0;
	ck_assert_int_eq(pl_follower_read_decide(&v, 1000, 500, 150), PL_FOLLOWER_REFUSE_STALE);
	v.last_leader_contact_ms = 1000;
	v.follower_with_leader = false;
	ck_assert_int_eq(pl_follower_read_decide(&v, 1000, 500, 150), PL_FOLLOWER_REFUSE_STALE);
}
END_TEST

Suite *placement_pin_suite(void)
{
	Suite *s = suite_create("placement_pin");
	TCase *tc = tcase_create("pin");
	tcase_add_test(tc, pin_notes_role_changes);
	tcase_add_test(tc, pin_failover_hands_over_at_once);
	tcase_add_test(tc, pin_hand_over_waits_cool_down_and_streak);
	tcase_add_test(tc, pin_unprobed_voter_is_no_candidate);
	tcase_add_test(tc, pin_decides_only_on_a_working_leader);
	tcase_add_test(tc, pin_eval_due_after_changes_only);
	tcase_add_test(tc, pin_peer_table_is_bounded);
	tcase_add_test(tc, follower_read_rule);
	suite_add_tcase(s, tc);
	return s;
}
