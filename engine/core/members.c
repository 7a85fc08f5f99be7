/* SPDX-License-Identifier: MIT */
/*
 * members.c - membership and failure detection: SWIM with Lifeguard's
 * refinements, the partition signal, and peer choice.
 *
 * Probing: one member per probe period, in a shuffled round robin. A ping
 * unanswered within probe_timeout sends ping-req through indirect_checks
 * other members and a second direct ping; no ack by the end of the period
 * makes the target suspect, and the target is told so directly. Suspects
 * this node has not accused itself are probed too, in spare probe slots,
 * and every ping to a suspect carries its record, so a live one refutes
 * in its ack.
 * Suspicion: a suspect member is declared dead when its suspicion timeout
 * runs out; the timeout starts at suspicion_max_mult times the minimum
 * (suspicion_mult * log10(N) probe periods) and shrinks towards the minimum
 * as independent members confirm the suspicion (Lifeguard). A member
 * refutes a suspicion about itself by raising its incarnation.
 * Local health (Lifeguard): a score raised by failed probes that got no
 * nack from the relays either and by refutations, lowered by successful
 * probes, stretches this node's probe period and timeouts, so a node that
 * is itself slow does not accuse healthy peers.
 * Re-contact: every reconnect period the node pings one dead member (with
 * its record as we see it, so a live one refutes and comes back) or, while
 * it knows no live member, its seeds: a healed partition merges by itself.
 * Partition signal: reach = (1 + alive) / (1 + alive + suspect + dead);
 * below quorum the node raises a partition event, above it a heal event
 * and an immediate anti-entropy round.
 */
#include "node_int.h"

#include <math.h>

/* ------------------------------------------------------------ table */

static uint64_t
id_mix(gv_node_id id)
{
	return id * UINT64_C(0x9E3779B97F4A7C15);
}

static int
mindex_rebuild(gv_node *n, size_t cap)
{
	uint32_t *t = gv__alloc(n->mem, cap * sizeof(uint32_t));
	if (!t)
		return GV_ENOMEM;
	memset(t, 0xff, cap * sizeof(uint32_t));
	for (size_t i = 0; i < n->nmembers; i++) {
		size_t j = (size_t)(id_mix(n->members[i].id) & (cap - 1));
		while (t[j] != GV_NO_MEMBER)
			j = (j + 1) & (cap - 1);
		t[j] = (uint32_t)i;
	}
	gv__free(n->mem, n->mindex, n->mindex_cap * sizeof(uint32_t));
	n->mindex = t;
	n->mindex_cap = cap;
	return 0;
}

int
gv__members_init(gv_node *n)
{
	n->form_at = GV_TIME_NEVER;
	n->suspect_next = GV_TIME_NEVER;
	return mindex_rebuild(n, 64);
}

void
gv__members_fini(gv_node *n)
{
	gv__free(n->mem, n->members, n->members_cap * sizeof(struct member));
	gv__free(n->mem, n->mindex, n->mindex_cap * sizeof(uint32_t));
	gv__free(n->mem, n->probe_order, n->probe_cap * sizeof(uint32_t));
	gv__free(n->mem, n->seeds, n->nseeds * sizeof(gv_addr));
}

struct member *
gv__member_find(const gv_node *n, gv_node_id id)
{
	size_t mask = n->mindex_cap - 1;
	size_t j = (size_t)(id_mix(id) & mask);
	for (;;) {
		uint32_t i = n->mindex[j];
		if (i == GV_NO_MEMBER)
			return NULL;
		if (n->members[i].id == id)
			return &n->members[i];
		j = (j + 1) & mask;
	}
}

static struct member *
member_add(gv_node *n, gv_node_id id)
{
	if (n->nmembers == n->members_cap) {
		size_t cap = n->members_cap ? n->members_cap * 2 : 16;
		struct member *m = gv__alloc(n->mem, cap * sizeof(*m));
		if (!m)
			return NULL;
		if (n->nmembers)
			memcpy(m, n->members, n->nmembers * sizeof(*m));
		gv__free(n->mem, n->members,
			 n->members_cap * sizeof(struct member));
		n->members = m;
		n->members_cap = cap;
	}
	if ((n->nmembers + 1) * 2 > n->mindex_cap &&
	    mindex_rebuild(n, n->mindex_cap * 2))
		return NULL;
	struct member *m = &n->members[n->nmembers];
	memset(m, 0, sizeof(*m));
	m->id = id;
	size_t mask = n->mindex_cap - 1;
	size_t j = (size_t)(id_mix(id) & mask);
	while (n->mindex[j] != GV_NO_MEMBER)
		j = (j + 1) & mask;
	n->mindex[j] = (uint32_t)n->nmembers;
	n->nmembers++;
	return m;
}

uint16_t
gv__region_intern(gv_node *n, const uint8_t *name, size_t len)
{
	if (len > GV_WIRE_MAX_REGION)
		len = GV_WIRE_MAX_REGION;
	for (unsigned i = 0; i < n->nregions; i++)
		if (strlen(n->regions[i]) == len &&
		    memcmp(n->regions[i], name, len) == 0)
			return (uint16_t)i;
	if (n->nregions == GV_MAX_REGIONS)
		return GV_MAX_REGIONS - 1; /* overflow: share the last */
	memcpy(n->regions[n->nregions], name, len);
	n->regions[n->nregions][len] = 0;
	n->multi_region = true;
	return (uint16_t)n->nregions++;
}

size_t
gv__member_count_live(const gv_node *n)
{
	return (size_t)(n->st.members_alive + n->st.members_suspect);
}

size_t
gv__cluster_size(const gv_node *n)
{
	if (n->statics)
		return n->statics->n;
	return 1 + gv__member_count_live(n);
}

static void
count_state(gv_node *n, uint8_t state, int delta)
{
	uint64_t *c = state == GV_MEMBER_ALIVE	   ? &n->st.members_alive
		      : state == GV_MEMBER_SUSPECT ? &n->st.members_suspect
		      : state == GV_MEMBER_DEAD	   ? &n->st.members_dead
						   : &n->st.members_left;
	*c += (uint64_t)(int64_t)delta;
	n->members_epoch++; /* eager flooding recomputes its successors */
}

void
gv__member_info(const gv_node *n, const struct member *m, gv_member_info *out)
{
	out->id = m->id;
	out->addr = m->addr;
	out->incarnation = m->incarnation;
	out->state = m->state;
	out->name = m->name;
	out->region = n->regions[m->region];
}

size_t
gv_node_members(const gv_node *n, gv_member_info *out, size_t max)
{
	for (size_t i = 0; i < n->nmembers && i < max; i++)
		gv__member_info(n, &n->members[i], &out[i]);
	return n->nmembers;
}

void
gv_node_self(const gv_node *n, gv_member_info *out)
{
	out->id = n->self;
	out->addr = n->cfg.addr;
	out->incarnation = n->incarnation;
	out->state = n->leaving ? GV_MEMBER_LEFT : GV_MEMBER_ALIVE;
	out->name = n->cfg.name;
	out->region = n->cfg.region;
}

void
gv__encode_member(const gv_node *n, const struct member *m,
		  uint8_t state_override, gv_wire_member *out)
{
	memset(out, 0, sizeof(*out));
	out->state = state_override != 255 ? state_override : m->state;
	out->node = m->id;
	out->incarnation = m->incarnation;
	out->accuser = m->accuser;
	out->addr = m->addr;
	out->region = (const uint8_t *)n->regions[m->region];
	out->region_len = (uint8_t)strlen(n->regions[m->region]);
	out->name = (const uint8_t *)m->name;
	out->name_len = (uint8_t)strlen(m->name);
}

void
gv__encode_self(const gv_node *n, gv_wire_member *out)
{
	memset(out, 0, sizeof(*out));
	out->state = n->leaving ? GV_MEMBER_LEFT : GV_MEMBER_ALIVE;
	out->node = n->self;
	out->incarnation = n->incarnation;
	out->addr = n->cfg.addr;
	out->region = (const uint8_t *)n->cfg.region;
	out->region_len = (uint8_t)strlen(n->cfg.region);
	out->name = (const uint8_t *)n->cfg.name;
	out->name_len = (uint8_t)strlen(n->cfg.name);
}

/* A joiner we refused (shard count mismatch): ignore its records. */
static bool
refused(const gv_node *n, gv_node_id id)
{
	for (unsigned i = 0; i < GV_REFUSED_MAX; i++)
		if (id && n->refused[i] == id)
			return true;
	return false;
}

/* ------------------------------------------------------ state changes */

static void
notify(gv_node *n, struct member *m, int old_state, gv_time now)
{
	if (n->cfg.cb.on_member) {
		gv_member_info info;
		gv__member_info(n, m, &info);
		n->cfg.cb.on_member(n->cfg.ud, &info, old_state, now);
	}
}

static void
set_state(gv_node *n, struct member *m, uint8_t state, gv_time now)
{
	int old = m->state;
	if (old == state)
		return;
	count_state(n, m->state, -1);
	count_state(n, state, +1);
	m->state = state;
	m->since = now;
	if (state != GV_MEMBER_SUSPECT) {
		m->nconfirm = 0;
		m->suspect_deadline = GV_TIME_NEVER;
	}
	notify(n, m, old, now);
	/* A member that comes back: reconcile with it at once. */
	if (state == GV_MEMBER_ALIVE &&
	    (old == GV_MEMBER_DEAD || old == GV_MEMBER_LEFT)) {
		gv__ae_start(n, now, m->id, &m->addr);
	}
	gv__update_reach(n, now);
}

/* Lifeguard's suspicion timeout with c independent confirmations. */
static gv_time
suspicion_timeout(const gv_node *n, unsigned c)
{
	double N = (double)gv__cluster_size(n);
	double lg = log10(N > 10 ? N : 10);
	double min = (double)n->cfg.suspicion_mult * lg *
		     (double)n->cfg.probe_interval_ms;
	double max = (double)n->cfg.suspicion_max_mult * min;
	double k = (double)(n->cfg.indirect_checks ? n->cfg.indirect_checks
						   : 1);
	double t = max - (max - min) * log((double)c + 1) / log(k + 1);
	if (t < min)
		t = min;
	return (gv_time)(t * (double)MS);
}

static bool
add_confirmation(struct member *m, gv_node_id from)
{
	for (unsigned i = 0; i < m->nconfirm; i++)
		if (m->confirm[i] == from)
			return false;
	if (m->nconfirm == GV_MAX_CONFIRM)
		return false;
	m->confirm[m->nconfirm++] = from;
	return true;
}

/*
 * Suspect m at incarnation inc, on the word of `from` (the member that
 * failed to reach it: the accuser named in the record, not whoever relayed
 * the rumor, so that confirmations are independent as Lifeguard needs).
 */
static void
suspect(gv_node *n, struct member *m, uint32_t inc, gv_node_id from,
	gv_time now)
{
	if (m->state == GV_MEMBER_SUSPECT) {
		if (inc > m->incarnation) {
			m->incarnation = inc;
			m->nconfirm = 0;
		}
		if (from && add_confirmation(m, from)) {
			unsigned c = m->nconfirm > 0 ? m->nconfirm - 1 : 0;
			m->suspect_deadline =
				m->suspect_start + suspicion_timeout(n, c);
			if (m->suspect_deadline < n->suspect_next)
				n->suspect_next = m->suspect_deadline;
			/* pass the new, independent accusation on */
			m->accuser = from;
			gv__spread_member(n, m->id);
		}
		return;
	}
	m->incarnation = inc;
	m->suspect_start = now;
	m->nconfirm = 0;
	m->accuser = from;
	if (from)
		add_confirmation(m, from);
	m->suspect_deadline = now + suspicion_timeout(n, 0);
	if (m->suspect_deadline < n->suspect_next)
		n->suspect_next = m->suspect_deadline;
	n->st.suspicions++;
	set_state(n, m, GV_MEMBER_SUSPECT, now);
	gv__spread_member(n, m->id);
}

/* Someone says something about us: refute if it is not alive. */
static void
about_self(gv_node *n, const gv_addr *from, const gv_wire_member *w,
	   gv_time now)
{
	if (n->leaving)
		return;
	if (w->state == GV_MEMBER_ALIVE)
		return;
	if (w->incarnation < n->incarnation) {
		/* old news: we refuted it already, but the sender missed
		 * it (a lost rumor, or the far side of a partition). Tell it
		 * directly. */
		struct item it = {.kind = IT_MEMBER};
		it.u.member.id = n->self;
		gv__node_item(n, from, &it);
		return;
	}
	n->incarnation = w->incarnation + 1;
	n->st.refutes++;
	if (n->awareness < (int)n->cfg.awareness_max)
		n->awareness++;
	gv__spread_member(n, n->self);
}

/*
 * A new member m took the address of others: a process restarted with a
 * new id (grapevined draws one at each start). Only one process can hold
 * an address, so the old records are of processes gone for good: they
 * leave. Left dead, they would count against reach for dead_reap_ms (three
 * restarts of one node of three: reach 0.5, a false partition) and hold
 * back tombstone collection waiting for a holder that never comes back.
 */
static uint64_t
addr_hash(const gv_addr *a)
{
	uint64_t h = a->port;
	for (size_t i = 0; i < sizeof(a->addr); i++)
		h = h * 131 + a->addr[i];
	return (h * UINT64_C(0x9E3779B97F4A7C15)) >> 32;
}

/* Note address a; returns whether its bit was set already (some member
 * may hold it). */
static bool
addr_note(gv_node *n, const gv_addr *a)
{
	uint64_t h = addr_hash(a) % (GV_ADDR_SEEN_WORDS * 64);
	uint64_t bit = UINT64_C(1) << (h & 63);
	bool seen = n->addr_seen[h >> 6] & bit;
	n->addr_seen[h >> 6] |= bit;
	return seen;
}

static void
superseded(gv_node *n, struct member *m, gv_time now)
{
	/* m may move if set_state's callbacks add members: use its index */
	size_t mi = (size_t)(m - n->members);
	for (size_t i = 0; i < n->nmembers; i++) {
		struct member *o = &n->members[i];
		if (i == mi || o->state == GV_MEMBER_LEFT ||
		    !gv_addr_eq(&o->addr, &n->members[mi].addr))
			continue;
		set_state(n, o, GV_MEMBER_LEFT, now);
	}
}

void
gv__on_member_record(gv_node *n, gv_time now, const gv_addr *addr,
		     gv_node_id from, const gv_wire_member *w)
{
	if (n->statics || n->cfg.external_membership || refused(n, from) ||
	    refused(n, w->node))
		return;
	if (w->node == n->self) {
		about_self(n, addr, w, now);
		return;
	}
	struct member *m = gv__member_find(n, w->node);
	if (!m) {
		/*
		 * A stranger. Alive or suspect: a new member. Dead: learn it
		 * too (a node that joins while some member is down must still
		 * count it: it may come back holding old values, so tombstones
		 * wait for it, and we try to reconnect it). Left: nothing to
		 * do.
		 */
		if (w->state == GV_MEMBER_LEFT)
			return;
		m = member_add(n, w->node);
		if (!m)
			return;
		/* a scan per new member (superseded) would be N^2 per node
		 * as a cluster forms: only when its address's bit was set */
		bool shared = addr_note(n, &w->addr);
		m->incarnation = w->incarnation;
		m->addr = w->addr;
		m->region = gv__region_intern(n, w->region, w->region_len);
		memcpy(m->name, w->name, w->name_len);
		m->name[w->name_len] = 0;
		m->suspect_deadline = GV_TIME_NEVER;
		m->since = now;
		if (w->state == GV_MEMBER_DEAD) {
			m->state = GV_MEMBER_DEAD;
			m->accuser = w->accuser ? w->accuser : from;
			count_state(n, GV_MEMBER_DEAD, +1);
			notify(n, m, 255, now);
			gv__update_reach(n, now);
			return;
		}
		m->state = GV_MEMBER_ALIVE;
		count_state(n, GV_MEMBER_ALIVE, +1);
		notify(n, m, 255, now);
		if (w->state == GV_MEMBER_SUSPECT)
			suspect(n, m, w->incarnation,
				w->accuser ? w->accuser : from, now);
		n->learned++;
		gv__spread_member(n, m->id);
		if (shared)
			superseded(n, m, now);
		gv__update_reach(n, now);
		return;
	}
	switch (w->state) {
	case GV_MEMBER_ALIVE:
		if (w->incarnation <= m->incarnation)
			return;
		m->incarnation = w->incarnation;
		m->addr = w->addr;
		addr_note(n, &w->addr);
		m->region = gv__region_intern(n, w->region, w->region_len);
		memcpy(m->name, w->name, w->name_len);
		m->name[w->name_len] = 0;
		set_state(n, m, GV_MEMBER_ALIVE, now);
		gv__spread_member(n, m->id);
		break;
	case GV_MEMBER_SUSPECT:
		if (w->incarnation < m->incarnation ||
		    m->state == GV_MEMBER_DEAD || m->state == GV_MEMBER_LEFT)
			return;
		suspect(n, m, w->incarnation, w->accuser ? w->accuser : from,
			now);
		break;
	case GV_MEMBER_DEAD:
	case GV_MEMBER_LEFT:
		if (w->incarnation < m->incarnation)
			return;
		if (m->state == w->state && w->incarnation == m->incarnation)
			return;
		if (m->state == GV_MEMBER_LEFT && w->state == GV_MEMBER_DEAD &&
		    w->incarnation == m->incarnation)
			return;
		m->incarnation = w->incarnation;
		m->accuser = w->accuser ? w->accuser : from;
		set_state(n, m, w->state, now);
		gv__spread_member(n, m->id);
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------- probing */

/* Queue member id's record, as this node sees it, for `to`. */
static void
send_record(gv_node *n, const gv_addr *to, gv_node_id id)
{
	struct item it = {.kind = IT_MEMBER};
	it.u.member.id = id;
	it.u.member.state_override = 255;
	gv__node_item(n, to, &it);
}

static void
send_ping(gv_node *n, const gv_addr *to, uint32_t probe, gv_node_id target)
{
	struct item it = {.kind = IT_PING};
	it.u.ping.probe = probe;
	it.u.ping.target = target;
	gv__node_item(n, to, &it);
	/*
	 * A ping to a member we suspect carries its record as we see it:
	 * a live one refutes at once and its ack brings the refutation
	 * back, instead of waiting for the rumor to find it.
	 */
	struct member *m = target ? gv__member_find(n, target) : NULL;
	if (m && m->state == GV_MEMBER_SUSPECT)
		send_record(n, to, m->id);
}

static void
send_ack(gv_node *n, const gv_addr *to, uint32_t probe, uint8_t flags)
{
	struct item it = {.kind = IT_ACK};
	it.u.ack.probe = probe;
	it.u.ack.flags = flags;
	gv__node_item(n, to, &it);
}

void
gv__on_ping(gv_node *n, gv_time now, const gv_addr *from, gv_node_id sender,
	    const gv_wire_ping *p)
{
	if (p->target && p->target != n->self)
		return; /* meant for whoever had this address before */
	send_ack(n, from, p->probe, 0);
	/* a ping from a stranger (a joiner, or a member we thought dead)
	 * gets our record back so it can learn about us */
	if (!n->statics && sender && !gv__member_find(n, sender)) {
		struct item it = {.kind = IT_MEMBER};
		it.u.member.id = n->self;
		gv__node_item(n, from, &it);
	}
}

static void
probe_success(gv_node *n, struct probe *p)
{
	p->active = false;
	if (n->awareness > 0)
		n->awareness--;
}

void
gv__on_ack(gv_node *n, gv_time now, const gv_addr *from, gv_node_id sender,
	   const gv_wire_ack *a)
{
	/* One of our own probes? */
	for (int i = 0; i < GV_MAX_PROBES; i++) {
		struct probe *p = &n->probes[i];
		if (!p->active || a->probe != p->seq)
			continue;
		if (a->flags & GV_ACK_NACK)
			p->nacks++;
		else
			probe_success(n, p);
		return;
	}
	/* A probe we relay for someone else? */
	for (int i = 0; i < GV_MAX_RELAYS; i++) {
		struct relay *r = &n->relays[i];
		if (!r->used || r->our_probe != a->probe)
			continue;
		if (!(a->flags & GV_ACK_NACK))
			send_ack(n, &r->requester, r->their_probe, 0);
		r->used = false;
		n->nrelays--;
		return;
	}
}

void
gv__on_ping_req(gv_node *n, gv_time now, const gv_addr *from,
		const gv_wire_ping_req *p)
{
	struct relay *slot = NULL;
	for (int i = 0; i < GV_MAX_RELAYS; i++)
		if (!n->relays[i].used) {
			slot = &n->relays[i];
			break;
		}
	if (!slot)
		return; /* too many relays in flight: the requester times out */
	slot->used = true;
	n->nrelays++;
	slot->our_probe = ++n->probe_seq;
	slot->their_probe = p->probe;
	slot->requester = *from;
	/*
	 * Lifeguard: the nack must reach the requester before its probe
	 * period ends (it asked after probe_timeout, so probe_interval -
	 * probe_timeout is left); answer at 80% of that, or the requester
	 * counts a missed nack against its own health.
	 */
	uint64_t left = n->cfg.probe_interval_ms - n->cfg.probe_timeout_ms;
	if (!left)
		left = n->cfg.probe_timeout_ms;
	slot->deadline = now + left * MS * 8 / 10;
	send_ping(n, &p->addr, slot->our_probe, p->target);
	n->st.ping_reqs++;
}

static void
probe_order_rebuild(gv_node *n)
{
	if (n->probe_cap < n->nmembers) {
		size_t cap = n->nmembers * 2;
		uint32_t *p = gv__alloc(n->mem, cap * sizeof(uint32_t));
		if (!p)
			return;
		gv__free(n->mem, n->probe_order, n->probe_cap * sizeof(uint32_t));
		n->probe_order = p;
		n->probe_cap = cap;
	}
	n->probe_n = 0;
	for (size_t i = 0; i < n->nmembers; i++) {
		uint8_t s = n->members[i].state;
		if (s == GV_MEMBER_ALIVE || s == GV_MEMBER_SUSPECT)
			n->probe_order[n->probe_n++] = (uint32_t)i;
	}
	for (size_t i = n->probe_n; i > 1; i--) {
		size_t j = gv_rng_below(&n->rng, i);
		uint32_t t = n->probe_order[i - 1];
		n->probe_order[i - 1] = n->probe_order[j];
		n->probe_order[j] = t;
	}
	n->probe_pos = 0;
}

static struct member *
next_probe_target(gv_node *n)
{
	for (int pass = 0; pass < 2; pass++) {
		while (n->probe_pos < n->probe_n) {
			uint32_t i = n->probe_order[n->probe_pos++];
			if (i >= n->nmembers)
				continue;
			struct member *m = &n->members[i];
			if (m->state == GV_MEMBER_ALIVE ||
			    m->state == GV_MEMBER_SUSPECT)
				return m;
		}
		probe_order_rebuild(n);
	}
	return NULL;
}

static void
probe_failed(gv_node *n, struct probe *p, gv_time now)
{
	p->active = false;
	n->st.probe_fails++;
	/*
	 * Lifeguard: relays that did not even nack point at us. Only when
	 * none of them answered, though: in a partition most relays picked
	 * at random sit on the far side, and counting each silent one would
	 * stretch our probe period exactly when the partition must be seen
	 * fast (detection went from ~0.6 s to ~1.3 s with 100 ms probes).
	 */
	if (p->nacks_expected && p->nacks == 0 &&
	    n->awareness < (int)n->cfg.awareness_max)
		n->awareness++;
	struct member *m = gv__member_find(n, p->target);
	/* a new suspicion, or an independent confirmation of one */
	if (!m || (m->state != GV_MEMBER_ALIVE && m->state != GV_MEMBER_SUSPECT))
		return;
	bool fresh = m->state == GV_MEMBER_ALIVE;
	suspect(n, m, m->incarnation, n->self, now);
	if (fresh) {
		/* tell the suspect too: if only our path to it is bad, it
		 * refutes before the rumor would have reached it */
		send_record(n, &m->addr, m->id);
	}
}

/*
 * Probes per period. SWIM probes one member per period; while a twentieth
 * or more of the membership is unreachable (a partition, or many failures
 * at once) we probe GV_MAX_PROBES members per period instead, so a
 * partition is seen in a few periods rather than after enough single
 * probes have failed one by one (150 nodes split 50/100 with 100 ms
 * probes: every minority node raises the partition event after ~0.5 s
 * instead of ~0.85 s). The burst ends when the membership settles (dead
 * members are not probed).
 */
static unsigned
probes_per_period(const gv_node *n)
{
	uint64_t down = n->st.members_suspect + n->st.members_dead;
	uint64_t total = down + n->st.members_alive;
	return total && down * 20 >= total ? GV_MAX_PROBES : 1;
}

static bool
probing(const gv_node *n, unsigned used, gv_node_id id)
{
	for (unsigned j = 0; j < used; j++)
		if (n->probes[j].target == id)
			return true;
	return false;
}

static void
probe_start(gv_node *n, struct probe *p, const struct member *m, gv_time now)
{
	uint64_t scale = (uint64_t)(n->awareness + 1);
	p->active = true;
	p->indirect_sent = false;
	p->seq = ++n->probe_seq;
	p->target = m->id;
	p->direct_deadline = now + n->cfg.probe_timeout_ms * MS * scale;
	p->end = now + n->cfg.probe_interval_ms * MS * scale;
	p->nacks = 0;
	p->nacks_expected = 0;
	n->st.probes++;
	send_ping(n, &m->addr, p->seq, m->id);
}

/*
 * Besides the round robin, each period probes (in spare probe slots) the
 * suspects this node has not accused itself. A crashed member then
 * collects its independent confirmations within about one period of the
 * rumor, and its suspicion timeout shrinks to the minimum (Lifeguard)
 * instead of waiting for the round robins to come round to it; a live
 * one gets its record with the ping and refutes in the ack.
 */
void
gv__probe_tick(gv_node *n, gv_time now)
{
	for (int i = 0; i < GV_MAX_PROBES; i++)
		if (n->probes[i].active)
			probe_failed(n, &n->probes[i], now);
	if (n->leaving)
		return;
	unsigned k = probes_per_period(n), used = 0;
	while (used < k) {
		struct member *m = next_probe_target(n);
		if (!m || probing(n, used, m->id))
			break; /* fewer members than probes */
		probe_start(n, &n->probes[used++], m, now);
	}
	if (!n->st.members_suspect)
		return;
	for (size_t i = 0; i < n->nmembers && used < GV_MAX_PROBES; i++) {
		struct member *m = &n->members[i];
		if (m->state != GV_MEMBER_SUSPECT ||
		    m->nconfirm == GV_MAX_CONFIRM || probing(n, used, m->id))
			continue;
		bool accused = false;
		for (unsigned j = 0; j < m->nconfirm; j++)
			accused |= m->confirm[j] == n->self;
		if (!accused)
			probe_start(n, &n->probes[used++], m, now);
	}
}

static void
probe_indirect(gv_node *n, struct probe *p, gv_time now)
{
	p->indirect_sent = true;
	struct member *t = gv__member_find(n, p->target);
	if (!t)
		return;
	gv_addr addrs[GV_MAX_CONFIRM];
	size_t k = 0;
	/* indirect_checks distinct alive members other than the target */
	for (int tries = 0; tries < 64 && k < n->cfg.indirect_checks &&
			    n->nmembers > 1;
	     tries++) {
		struct member *r =
			&n->members[gv_rng_below(&n->rng, n->nmembers)];
		if (r->id == t->id || r->state != GV_MEMBER_ALIVE)
			continue;
		bool dup = false;
		for (size_t i = 0; i < k; i++)
			dup |= gv_addr_eq(&addrs[i], &r->addr);
		if (dup)
			continue;
		addrs[k++] = r->addr;
	}
	for (size_t i = 0; i < k; i++) {
		struct item it = {.kind = IT_PING_REQ};
		it.u.ping.probe = p->seq;
		it.u.ping.target = t->id;
		it.u.ping.taddr = t->addr;
		gv__node_item(n, &addrs[i], &it);
	}
	p->nacks_expected = (unsigned)k;
	/* and a second direct ping: with the first ping or its ack lost
	 * (p = 0.19 at 10% loss) it takes a second loss on the direct path
	 * as well as on every relayed one to fail the probe */
	send_ping(n, &t->addr, p->seq, t->id);
}

gv_time
gv__members_next(const gv_node *n)
{
	gv_time t = GV_TIME_NEVER;
	for (int i = 0; i < GV_MAX_PROBES; i++) {
		const struct probe *p = &n->probes[i];
		if (!p->active)
			continue;
		gv_time d = p->indirect_sent ? p->end : p->direct_deadline;
		t = d < t ? d : t;
	}
	if (n->nrelays)
		for (int i = 0; i < GV_MAX_RELAYS; i++)
			if (n->relays[i].used && n->relays[i].deadline < t)
				t = n->relays[i].deadline;
	/* suspicion deadlines: only suspect members have one (the earliest
	 * is cached: this runs after every call into the node, and a scan
	 * of a thousand members per datagram is what a suspicion storm
	 * would otherwise cost) */
	if (n->st.members_suspect && n->suspect_next < t)
		t = n->suspect_next;
	return t;
}

void
gv__members_timers(gv_node *n, gv_time now)
{
	for (int i = 0; i < GV_MAX_PROBES; i++) {
		struct probe *p = &n->probes[i];
		if (p->active && !p->indirect_sent &&
		    now >= p->direct_deadline)
			probe_indirect(n, p, now);
		if (p->active && p->indirect_sent && now >= p->end)
			probe_failed(n, p, now);
	}
	for (int i = 0; i < GV_MAX_RELAYS && n->nrelays; i++) {
		struct relay *r = &n->relays[i];
		if (r->used && now >= r->deadline) {
			send_ack(n, &r->requester, r->their_probe,
				 GV_ACK_NACK);
			r->used = false;
			n->nrelays--;
		}
	}
	if (!n->st.members_suspect || now < n->suspect_next)
		return;
	/* due: expire, and find the next deadline (suspect() lowers it
	 * for any suspicion raised meanwhile) */
	n->suspect_next = GV_TIME_NEVER;
	for (size_t i = 0; i < n->nmembers; i++) {
		struct member *m = &n->members[i];
		if (m->state != GV_MEMBER_SUSPECT)
			continue;
		if (now >= m->suspect_deadline) {
			m->accuser = n->self;
			set_state(n, m, GV_MEMBER_DEAD, now);
			gv__spread_member(n, m->id);
		} else if (m->suspect_deadline < n->suspect_next) {
			n->suspect_next = m->suspect_deadline;
		}
	}
}

/* Forget members dead (or gone) for longer than dead_reap. Runs from the
 * once-a-second sweep. */
void
gv__members_reap(gv_node *n, gv_time now)
{
	bool removed = false;
	for (size_t i = 0; i < n->nmembers;) {
		struct member *m = &n->members[i];
		if ((m->state == GV_MEMBER_DEAD || m->state == GV_MEMBER_LEFT) &&
		    now - m->since > n->cfg.dead_reap_ms * MS && !m->rumor) {
			count_state(n, m->state, -1);
			n->members[i] = n->members[n->nmembers - 1];
			n->nmembers--;
			removed = true;
			continue;
		}
		i++;
	}
	if (removed)
		mindex_rebuild(n, n->mindex_cap);
}

/* ------------------------------------------------- join and reconnect */

static void
send_join(gv_node *n, const gv_addr *to)
{
	struct item it = {.kind = IT_SYNC_REQ};
	it.u.sync.session = gv__rand32(n);
	it.u.sync.flags = GV_SYNC_JOIN;
	gv__node_item(n, to, &it);
	struct item me = {.kind = IT_MEMBER};
	me.u.member.id = n->self;
	gv__node_item(n, to, &me);
}

/*
 * Formation pulls. A seed answers a join with its whole view, but in a
 * join storm (a fleet restart: every node joins at once) it answers most
 * joiners before it has heard of the others, and the rest of the view
 * would then come by rumors only: one member record per rumor, each
 * member's rumor queued at every node with its retransmit budget, N^2 of
 * them crowding the gossip datagrams, and the last few records of each
 * view waiting behind newer rumors or for the periodic push-pull (every
 * GV_SYNC_EVERY reconnect periods). A forming node instead pulls a whole
 * view (the periodic push-pull's sync request) from a random live member
 * every form_gap while pulls and rumors keep teaching it members: a
 * record still missing at a fraction p of the nodes is missing at about
 * p^2 after a round of pulls, so views fill in a few rounds, at one view
 * sent per forming node and round. A node forms after its join, and when
 * at least FORM_PULL_MIN members new to it arrived within a reconnect
 * period (a storm seen by a member already in); it stops after
 * FORM_IDLE_MAX gaps that taught it nothing (the first idle one waits
 * without pulling: the last reply may be late). A single join into a
 * steady cluster costs the joiner one pull beyond its join.
 */
#define FORM_PULL_MIN 8
#define FORM_IDLE_MAX 2

/* Five gossip rounds, at least 500 ms: 250 ms cost a 500-node storm on
 * two cores false suspicions (the pulls' load), 500 ms none. */
static gv_time
form_gap(const gv_node *n)
{
	gv_time g = 5 * (gv_time)n->cfg.interval_ms * MS;
	return g > 500 * MS ? g : 500 * MS;
}

static void
form_start(gv_node *n, gv_time now)
{
	n->forming = true;
	n->form_idle = 0;
	if (now + form_gap(n) < n->form_at)
		n->form_at = now + form_gap(n);
}

/* Ask one random live member for its whole view (we send just our own
 * record: gossip tells it the rest). */
static void
send_pull(gv_node *n)
{
	gv_node_id peer;
	gv_addr addr;

	if (!gv__pick_one(n, 0, &peer, &addr))
		return;
	struct item it = {.kind = IT_SYNC_REQ};
	it.u.sync.session = gv__rand32(n);
	it.u.sync.flags = 0;
	gv__node_item(n, &addr, &it);
	struct item me = {.kind = IT_MEMBER};
	me.u.member.id = n->self;
	gv__node_item(n, &addr, &me);
}

void
gv__form_tick(gv_node *n, gv_time now)
{
	n->form_at = GV_TIME_NEVER;
	if (!n->forming || n->leaving)
		return;
	n->form_at = now + form_gap(n);
	if (!n->synced)
		return; /* the join's answer first (reconnect retries it) */
	if (n->learned) {
		n->form_idle = 0;
	} else if (++n->form_idle >= FORM_IDLE_MAX) {
		n->forming = false;
		n->form_at = GV_TIME_NEVER;
		return;
	} else {
		return; /* idle once: wait for a late reply */
	}
	n->learned = 0;
	n->sync_ticks = 0; /* the periodic push-pull is this */
	send_pull(n);
}

int
gv_node_join(gv_node *n, gv_time now, const gv_addr *seeds, size_t nseeds)
{
	if (!n || !seeds || !nseeds || n->cfg.external_membership)
		return GV_EINVAL;
	n->now = now;
	gv_addr *copy = gv__alloc(n->mem, nseeds * sizeof(gv_addr));
	if (!copy)
		return GV_ENOMEM;
	memcpy(copy, seeds, nseeds * sizeof(gv_addr));
	gv__free(n->mem, n->seeds, n->nseeds * sizeof(gv_addr));
	n->seeds = copy;
	n->nseeds = nseeds;
	for (size_t i = 0; i < nseeds; i++)
		if (!gv_addr_eq(&seeds[i], &n->cfg.addr))
			send_join(n, &seeds[i]);
	form_start(n, now);
	return 0;
}

int
gv_node_leave(gv_node *n, gv_time now)
{
	if (!n)
		return GV_EINVAL;
	n->now = now;
	n->leaving = true;
	n->incarnation++;
	gv__spread_member(n, n->self);
	/* tell a few members directly too, so the news does not depend on
	 * the next round */
	gv_addr to[8];
	size_t k = gv__pick_peers(n, n->cfg.fanout, 0, to);
	for (size_t i = 0; i < k; i++) {
		struct item it = {.kind = IT_MEMBER};
		it.u.member.id = n->self;
		gv__node_item(n, &to[i], &it);
	}
	return 0;
}

static unsigned
shards_of(unsigned k)
{
	return k ? k : 1;
}

void
gv__on_sync_req(gv_node *n, gv_time now, const gv_addr *from,
		gv_node_id sender, const gv_wire_sync_req *s)
{
	if (n->statics || n->cfg.external_membership)
		return;
	if (s->flags & GV_SYNC_REPLY) {
		if (s->flags & GV_SYNC_MISMATCH) {
			n->st.joins_refused++;
			if (n->cfg.cb.on_join_refused)
				n->cfg.cb.on_join_refused(n->cfg.ud, from,
							  s->shards, now);
			return;
		}
		/* an answer: its MEMBER records (in this datagram and the
		 * next) do the work; from now on our view is complete */
		n->synced = true;
		return;
	}
	struct bulk b;
	gv__bulk_init(&b, n, from, false);
	if (shards_of(s->shards) != shards_of(n->cfg.shards)) {
		/* Refuse: a node with another shard count would gossip keys
		 * to the wrong shards. Ignore its records from now on. */
		n->st.joins_refused++;
		n->refused[n->refused_pos++ % GV_REFUSED_MAX] = sender;
		gv_wire_sync_req rep = {s->session,
					GV_SYNC_REPLY | GV_SYNC_MISMATCH,
					n->cfg.shards};
		gv_wire_writer *w = gv__bulk_room(&b, GV_WIRE_RECORD_HDR + 7);
		if (w)
			gv_wire_put_sync_req(w, &rep);
		gv__bulk_finish(&b);
		return;
	}
	/* Answer with our whole membership, ourselves first. */
	gv_wire_sync_req rep = {s->session, GV_SYNC_REPLY, n->cfg.shards};
	gv_wire_writer *w = gv__bulk_room(&b, GV_WIRE_RECORD_HDR + 7);
	if (w)
		gv_wire_put_sync_req(w, &rep);
	gv_wire_member m;
	gv__encode_self(n, &m);
	w = gv__bulk_room(&b, gv_wire_member_size(&m));
	if (w)
		gv_wire_put_member(w, &m);
	for (size_t i = 0; i < n->nmembers && !b.err; i++) {
		if (n->members[i].state == GV_MEMBER_LEFT)
			continue;
		gv__encode_member(n, &n->members[i], 255, &m);
		w = gv__bulk_room(&b, gv_wire_member_size(&m));
		if (w)
			gv_wire_put_member(w, &m);
	}
	gv__bulk_finish(&b);
	/* a joiner gets our data too */
	if ((s->flags & GV_SYNC_JOIN) && sender)
		gv__ae_start(n, now, sender, from);
}

void
gv__reconnect_tick(gv_node *n, gv_time now)
{
	if (n->leaving)
		return;
	/* Alone, or our join's answer was lost? Knock on the seeds' doors
	 * again: until a full membership arrives, we do not know who might
	 * still hold old values (tombstones wait for that). */
	if (n->st.members_alive == 0 || !n->synced) {
		for (size_t i = 0; i < n->nseeds; i++)
			if (!gv_addr_eq(&n->seeds[i], &n->cfg.addr))
				send_join(n, &n->seeds[i]);
	}
	/* Many members new to us within a period: a storm of joins seen
	 * from inside; pull whole views while it lasts. */
	if (!n->forming) {
		if (n->learned >= FORM_PULL_MIN && n->synced)
			form_start(n, now);
		else
			n->learned = 0;
	}
	/* Push-pull of the whole membership with one live member now and
	 * then (memberlist does the same): a record missed by gossip, such
	 * as a member that died before we joined, is repaired here. */
	if (++n->sync_ticks >= GV_SYNC_EVERY) {
		n->sync_ticks = 0;
		send_pull(n);
	}
	if (!n->st.members_dead)
		return;
	/* One random dead member: ping it with its record as we see it
	 * (dead), and ours; if it lives it refutes and comes back. */
	struct member *d = NULL;
	for (int tries = 0; tries < 32 && !d; tries++) {
		struct member *m =
			&n->members[gv_rng_below(&n->rng, n->nmembers)];
		if (m->state == GV_MEMBER_DEAD)
			d = m;
	}
	if (!d)
		for (size_t i = 0; i < n->nmembers && !d; i++)
			if (n->members[i].state == GV_MEMBER_DEAD)
				d = &n->members[i];
	if (!d)
		return;
	send_record(n, &d->addr, d->id);
	struct item me = {.kind = IT_MEMBER};
	me.u.member.id = n->self;
	gv__node_item(n, &d->addr, &me);
	send_ping(n, &d->addr, ++n->probe_seq, d->id);
}

/* ------------------------------------------------------ partition */

void
gv__update_reach(gv_node *n, gv_time now)
{
	if (n->statics)
		return;
	double alive = (double)n->st.members_alive;
	double total = alive + (double)n->st.members_suspect +
		       (double)n->st.members_dead;
	n->reach = (1.0 + alive) / (1.0 + total);
	bool part = n->reach < n->cfg.quorum;
	if (part == n->partitioned)
		return;
	n->partitioned = part;
	if (part)
		n->st.partitions++;
	else
		n->st.heals++;
	if (n->cfg.cb.on_partition)
		n->cfg.cb.on_partition(n->cfg.ud, part, n->reach, now);
	if (!part)
		n->ae_kick = true; /* healed: reconcile now */
}

/* ------------------------------------------------------ peer choice */

/* Is static peer i in our region? */
static inline bool
static_local(const gv_node *n, size_t i)
{
	return !n->statics->region ||
	       n->statics->region[i] == n->static_own_region;
}

static bool
member_gossipable(const struct member *m)
{
	return m->state == GV_MEMBER_ALIVE || m->state == GV_MEMBER_SUSPECT;
}

/* May index i (a member, or a static peer) be chosen? want_local: 1 our
 * region only, 0 other regions only, -1 any. */
static bool
candidate_ok(const gv_node *n, size_t i, int want_local, gv_node_id exclude)
{
	bool local;
	if (n->statics) {
		if (i == n->static_self || n->statics->id[i] == exclude)
			return false;
		local = static_local(n, i);
	} else {
		const struct member *m = &n->members[i];
		if (!member_gossipable(m) || m->id == exclude)
			return false;
		local = m->region == 0;
	}
	return want_local < 0 || local == (want_local == 1);
}

/* One random candidate index of the wanted class: rejection sampling,
 * then a scan from a random start (for sparse classes). */
static bool
pick_index(gv_node *n, int want_local, gv_node_id exclude, size_t *out)
{
	size_t total = n->statics ? n->statics->n : n->nmembers;
	if (!total)
		return false;
	for (int tries = 0; tries < 48; tries++) {
		size_t i = gv_rng_below(&n->rng, total);
		if (candidate_ok(n, i, want_local, exclude)) {
			*out = i;
			return true;
		}
	}
	size_t start = gv_rng_below(&n->rng, total);
	for (size_t k = 0; k < total; k++) {
		size_t i = (start + k) % total;
		if (candidate_ok(n, i, want_local, exclude)) {
			*out = i;
			return true;
		}
	}
	return false;
}

static void
index_peer(const gv_node *n, size_t i, gv_node_id *id, gv_addr *addr)
{
	if (n->statics) {
		*id = n->statics->id[i];
		*addr = n->statics->addr[i];
	} else {
		*id = n->members[i].id;
		*addr = n->members[i].addr;
	}
}

size_t
gv__pick_peers(gv_node *n, size_t k, gv_node_id exclude, gv_addr *out)
{
	size_t got = 0;
	unsigned remote = 0;
	gv_node_id ids[64];
	bool regions = n->multi_region;
	if (k > 64)
		k = 64;
	for (size_t attempt = 0; got < k && attempt < k * 4; attempt++) {
		int want = -1;
		if (regions) {
			bool local = gv_rng_double(&n->rng) <
					     n->cfg.region_affinity ||
				     remote >= n->cfg.cross_region_fanout;
			want = local ? 1 : 0;
		}
		size_t i;
		if (!pick_index(n, want, exclude, &i) &&
		    !(regions && want == 0 &&
		      pick_index(n, 1, exclude, &i)) &&
		    !(regions && want == 1 &&
		      remote < n->cfg.cross_region_fanout &&
		      pick_index(n, 0, exclude, &i)))
			break;
		gv_node_id id;
		gv_addr addr;
		index_peer(n, i, &id, &addr);
		bool dup = false;
		for (size_t j = 0; j < got; j++)
			dup |= ids[j] == id;
		if (dup)
			continue;
		bool is_remote = n->statics ? !static_local(n, i)
					    : n->members[i].region != 0;
		if (regions && is_remote)
			remote++;
		ids[got] = id;
		out[got++] = addr;
	}
	return got;
}

bool
gv__pick_one(gv_node *n, gv_node_id exclude, gv_node_id *id, gv_addr *addr)
{
	size_t i;
	if (!pick_index(n, -1, exclude, &i))
		return false;
	index_peer(n, i, id, addr);
	return true;
}

int
gv_node_set_static_peers(gv_node *n, const gv_static_peers *peers,
			 uint16_t own_region)
{
	if (!n || !peers || !peers->n || !peers->id || !peers->addr)
		return GV_EINVAL;
	/* the list is shared by every node: nothing per peer is copied */
	n->statics = peers;
	n->static_own_region = own_region;
	n->static_self = SIZE_MAX;
	n->multi_region = false;
	for (size_t i = 0; i < peers->n; i++) {
		if (peers->id[i] == n->self)
			n->static_self = i;
		if (peers->region && peers->region[i] != own_region)
			n->multi_region = true;
	}
	return 0;
}

int
gv_node_set_member(gv_node *n, gv_time now, const gv_member_info *info)
{
	if (!n || !info || !info->id || info->id == n->self || n->statics ||
	    info->state > GV_MEMBER_LEFT)
		return GV_EINVAL;
	n->now = now;
	struct member *m = gv__member_find(n, info->id);
	if (!m) {
		if (info->state != GV_MEMBER_ALIVE &&
		    info->state != GV_MEMBER_SUSPECT)
			return 0;
		int rc = gv_node_add_member(n, now, info);
		if (rc)
			return rc;
		m = gv__member_find(n, info->id);
		if (!m)
			return GV_ENOMEM;
	}
	m->addr = info->addr;
	addr_note(n, &info->addr);
	m->incarnation = info->incarnation;
	/* name and region as the owning shard knows them: a member first
	 * heard of without them (or renamed by a restart) is corrected */
	if (info->region) {
		uint16_t r = gv__region_intern(n, (const uint8_t *)info->region,
					       strlen(info->region));
		if (r != m->region) {
			m->region = r;
			n->members_epoch++; /* flooding cycles group regions */
		}
	}
	if (info->name) {
		size_t l = strlen(info->name);
		if (l > GV_WIRE_MAX_NAME)
			l = GV_WIRE_MAX_NAME;
		memcpy(m->name, info->name, l);
		m->name[l] = 0;
	}
	if (info->state == GV_MEMBER_SUSPECT) {
		/* the owning shard times the suspicion; keep it from expiring
		 * here */
		m->suspect_deadline = GV_TIME_NEVER;
	}
	set_state(n, m, info->state, now);
	if (info->state == GV_MEMBER_SUSPECT)
		m->suspect_deadline = GV_TIME_NEVER;
	return 0;
}

int
gv_node_add_member(gv_node *n, gv_time now, const gv_member_info *info)
{
	if (!n || !info || !info->id || info->id == n->self || n->statics)
		return GV_EINVAL;
	if (info->addr.family != 4 && info->addr.family != 6)
		return GV_EINVAL;
	if (gv__member_find(n, info->id))
		return 0;
	struct member *m = member_add(n, info->id);
	if (!m)
		return GV_ENOMEM;
	m->addr = info->addr;
	addr_note(n, &info->addr);
	m->incarnation = info->incarnation;
	const char *region = info->region ? info->region : "";
	m->region = gv__region_intern(n, (const uint8_t *)region,
				      strlen(region));
	if (info->name) {
		size_t l = strlen(info->name);
		if (l > GV_WIRE_MAX_NAME)
			l = GV_WIRE_MAX_NAME;
		memcpy(m->name, info->name, l);
		m->name[l] = 0;
	}
	m->suspect_deadline = GV_TIME_NEVER;
	m->state = GV_MEMBER_ALIVE;
	m->since = now;
	count_state(n, GV_MEMBER_ALIVE, +1);
	n->synced = true; /* membership given from outside */
	gv__update_reach(n, now);
	return 0;
}
