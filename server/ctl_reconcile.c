/* Reconcile: the partitions one broker must host according to the controller
 * state, and the create / delete / replicas-changed steps between what a
 * broker hosts and what it should. */
#include <stdio.h>
#include <string.h>

#include "common/sl_common.h"
#include "server/ctl_int.h"

static bool hosts(const struct sd_ctl_partition *p, int32_t broker_id)
{
	for (int32_t r = 0; r < p->n_replicas; r++) {
		if (p->replicas[r] == broker_id) {
			return true;
		}
	}
	return false;
}

static void fill_local(struct sd_ctl_local *l, const struct sd__group_ref *g)
{
	const struct sd_ctl_partition *p = &g->topic->partitions[g->partition];
	memset(l, 0, sizeof(*l));
	l->group_id = g->group_id;
	snprintf(l->topic, sizeof(l->topic), "%s", g->topic->name);
	memcpy(l->topic_id, g->topic->id, SD_CTL_TOPIC_ID_BYTES);
	l->partition = g->partition;
	l->n_replicas = p->n_replicas;
	memcpy(l->replicas, p->replicas, (size_t)p->n_replicas * sizeof(p->replicas[0]));
	l->replica_epoch = p->replica_epoch;
	l->bootstrap = p->replica_epoch == 0;
}

int sd_ctl_local_partitions(const struct sd_ctl_state *s, int32_t broker_id,
			    struct sd_ctl_local **out, int32_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	int32_t n = 0;
	for (int32_t i = 0; i < s->n_groups; i++) {
		const struct sd__group_ref *g = &s->groups[i];
		n += hosts(&g->topic->partitions[g->partition], broker_id);
	}
	if (n == 0) {
		return 0;
	}
	struct sd_ctl_local *l = sl_malloc((size_t)n * sizeof(*l));
	if (l == NULL) {
		return SD_CTL_ENOMEM;
	}
	int32_t k = 0;
	for (int32_t i = 0; i < s->n_groups; i++) {
		const struct sd__group_ref *g = &s->groups[i];
		if (hosts(&g->topic->partitions[g->partition], broker_id)) {
			fill_local(&l[k++], g);
		}
	}
	*out = l;
	*n_out = n;
	return 0;
}

static bool ascending(const struct sd_ctl_local *l, int32_t n)
{
	if (n < 0 || (n > 0 && l == NULL)) {
		return false;
	}
	for (int32_t i = 1; i < n; i++) {
		if (l[i - 1].group_id >= l[i].group_id) {
			return false;
		}
	}
	return true;
}

static bool same_replicas(const struct sd_ctl_local *a, const struct sd_ctl_local *b)
{
	return a->n_replicas == b->n_replicas &&
	       memcmp(a->replicas, b->replicas, (size_t)a->n_replicas * sizeof(a->replicas[0])) ==
		   0;
}

static void emit(struct sd_ctl_change *out, int32_t *n, enum sd_ctl_change_kind kind,
		 const struct sd_ctl_local *now, const struct sd_ctl_local *before)
{
	struct sd_ctl_change *c = &out[(*n)++];
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	c->part = *now;
	if (before != NULL) {
		c->old_n_replicas = before->n_replicas;
		memcpy(c->old_replicas, before->replicas,
		       (size_t)before->n_replicas * sizeof(before->replicas[0]));
	}
}

/* One merge pass over both lists that emits only changes of `kind`. */
static void merge_pass(const struct sd_ctl_local *have, int32_t n_have,
		       const struct sd_ctl_local *want, int32_t n_want,
		       enum sd_ctl_change_kind kind, struct sd_ctl_change *out, int32_t *n)
{
	int32_t i = 0, j = 0;
	while (i < n_have || j < n_want) {
		if (j == n_want || (i < n_have && have[i].group_id < want[j].group_id)) {
			if (kind == SD_CTL_CHANGE_DELETE) {
				emit(out, n, kind, &have[i], &have[i]);
			}
			i++;
		} else if (i == n_have || want[j].group_id < have[i].group_id) {
			if (kind == SD_CTL_CHANGE_CREATE) {
				emit(out, n, kind, &want[j], NULL);
			}
			j++;
		} else {
			if (kind == SD_CTL_CHANGE_REPLICAS && !same_replicas(&have[i], &want[j])) {
				emit(out, n, kind, &want[j], &have[i]);
			}
			i++;
			j++;
		}
	}
}

int sd_ctl_local_diff(const struct sd_ctl_local *have, int32_t n_have,
		      const struct sd_ctl_local *want, int32_t n_want, struct sd_ctl_change **out,
		      int32_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	if (!ascending(have, n_have) || !ascending(want, n_want)) {
		return SD_CTL_EINVAL;
	}
	if (n_have + (int64_t)n_want == 0) {
		return 0;
	}
	struct sd_ctl_change *c = sl_malloc(((size_t)n_have + (size_t)n_want) * sizeof(*c));
	if (c == NULL) {
		return SD_CTL_ENOMEM;
	}
	int32_t n = 0;
	merge_pass(have, n_have, want, n_want, SD_CTL_CHANGE_DELETE, c, &n);
	merge_pass(have, n_have, want, n_want, SD_CTL_CHANGE_REPLICAS, c, &n);
	merge_pass(have, n_have, want, n_want, SD_CTL_CHANGE_CREATE, c, &n);
	if (n == 0) {
		sl_free(c);
		c = NULL;
	}
	*out = c;
	*n_out = n;
	return 0;
}

int sd_ctl_state_diff(const struct sd_ctl_state *from, const struct sd_ctl_state *to,
		      int32_t broker_id, struct sd_ctl_change **out, int32_t *n_out)
{
	struct sd_ctl_local *have = NULL, *want = NULL;
	int32_t n_have = 0, n_want = 0;
	*out = NULL;
	*n_out = 0;
	int rc = from != NULL ? sd_ctl_local_partitions(from, broker_id, &have, &n_have) : 0;
	if (rc == 0) {
		rc = sd_ctl_local_partitions(to, broker_id, &want, &n_want);
	}
	if (rc == 0) {
		rc = sd_ctl_local_diff(have, n_have, want, n_want, out, n_out);
	}
	sl_free(have);
	sl_free(want);
	return rc;
}
