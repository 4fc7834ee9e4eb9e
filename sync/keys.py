"""Every Redis key name nocontact uses, under one prefix (default ``nocontact:``).

Layout (P = prefix):

- ``P meta``            hash: epoch, version, entries, identifiers, normalisers, shrink_ok, published_ms,
                        updated_ms (see ``META_*``)
- ``P entries``         hash: reference -> entry JSON (the system of record)
- ``P versions``        hash: reference -> version of its last upsert since the epoch began (older
                        entries date from ``meta.published_version``); answers "is entry R enforced?"
- ``P changes``         stream: one message per change (see ``sync.changes``)
- ``P staging:TOKEN``   hash: a full republish being written, renamed over ``P entries`` by the swap
- ``P gateways``        sorted set: gateway id -> expiry (Redis ``TIME``, ms)
- ``P gateway:ID``      hash: one gateway's heartbeat (state, epoch, version), with a TTL
- ``P hits``            stream: blocked attempts shipped by the gateways' spools
- ``P hit_ids``         hash: hit id -> its stream id in ``P hits`` (idempotent shipping, lookup)
- ``P hit_reviews``     hash: hit id -> review record (the latest; before the trail, the only one)
- ``P hit_review_log``  stream: every review of every hit, in order (the review trail)
- ``P hit_evidence``    hash: hit id -> what was tried (JSON; gateway.hitlog.evidence), pruned
- ``P hit_evidence_times`` sorted set: hit id -> its time (ms), for the evidence's retention
- ``P tokens``          hash: sha256 of an API token -> principal record (tokens are stored hashed)
- ``P token_changes``   stream: one message per revoked token (its hash), read by every gateway
- ``P acknowledge``     pub/sub channel, never read: published to just before a WAIT (``sync.replication``)
- ``P ui:users``        hash: web UI user name -> account record (argon2 password hash, role, ...)
- ``P ui:session:H``    string with a TTL: one signed-in web session, H = sha256 of the cookie value
- ``P ui:signin:K``     hash with a TTL: sign-in attempts and back-off for K (``user:NAME``, ``addr:IP``)
- ``P contacts:list:L``  hash: one prisoner's social contacts list (record JSON, version, updated),
  L = ``EST:PRISONER``
- ``P contacts:held:L``  set: the normalised identifiers list L holds (``p:``/``e:``/``a:``/``ap:``
  + key; ``ap:`` an address phrase, "14 HIGH ST")
- ``P contacts:ident:I`` set: the lists holding identifier I (a new block's sweep reads these)
- ``P contacts:lists``   set: every stored list L
- ``P contacts:dirty``   hash: list L -> its version, written and not yet swept
- ``P contacts:sweep``   hash: the sweeper's durable progress (epoch, version, stream id, and the
  form of the identifier index, ``cases.contacts.IDENT_FORM``)
- ``P contacts:sweeper`` string with a TTL: the gateway holding the sweep lease
- ``P ctasks``           hash: removal task id -> task JSON
- ``P ctasks:est:E``     sorted set: establishment E's task ids by creation (ms)
- ``P ctasks:open:E``    sorted set: establishment E's open task ids by creation (ms)
- ``P ctasks:ref:R``     set: the task ids of entry R
- ``P ctasks:list:L``    set: the task ids of list L
- ``P ctasks:establishments`` set: the establishments that have tasks
- ``P mailroom:held:DAY`` hash with a TTL: letters the mailroom page held with no hit on DAY (the
  configured zone's date, YYYY-MM-DD), id -> record JSON (gateway.ui.mailroom_held)
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "nocontact:"

META_EPOCH = "epoch"
META_VERSION = "version"
META_ENTRIES = "entries"
META_IDENTIFIERS = "identifiers"
META_NORMALISERS = "normalisers"
META_PUBLISHED_VERSION = "published_version"  # the version this epoch began at
META_SHRINK_OK = "shrink_ok"  # "1": this epoch was published with an explicit licence to shrink
META_PUBLISHED_MS = "published_ms"  # Redis TIME when this epoch began
META_UPDATED_MS = "updated_ms"  # Redis TIME of the last change


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = DEFAULT_PREFIX

    @property
    def meta(self) -> str:
        return f"{self.prefix}meta"

    @property
    def entries(self) -> str:
        return f"{self.prefix}entries"

    @property
    def versions(self) -> str:
        return f"{self.prefix}versions"

    @property
    def changes(self) -> str:
        return f"{self.prefix}changes"

    def staging(self, token: str) -> str:
        return f"{self.prefix}staging:{token}"

    @property
    def gateways(self) -> str:
        return f"{self.prefix}gateways"

    def gateway(self, gateway_id: str) -> str:
        return f"{self.prefix}gateway:{gateway_id}"

    @property
    def hits(self) -> str:
        return f"{self.prefix}hits"

    @property
    def hit_ids(self) -> str:
        return f"{self.prefix}hit_ids"

    @property
    def hit_reviews(self) -> str:
        return f"{self.prefix}hit_reviews"

    @property
    def hit_review_log(self) -> str:
        return f"{self.prefix}hit_review_log"

    @property
    def hit_evidence(self) -> str:
        return f"{self.prefix}hit_evidence"

    @property
    def hit_evidence_times(self) -> str:
        return f"{self.prefix}hit_evidence_times"

    @property
    def tokens(self) -> str:
        return f"{self.prefix}tokens"

    @property
    def token_changes(self) -> str:
        return f"{self.prefix}token_changes"

    @property
    def acknowledge(self) -> str:
        return f"{self.prefix}acknowledge"

    # -- cases (UPC requests and their workflow) ------------------------------------------------
    def case(self, case_id: str) -> str:
        return f"{self.prefix}case:{case_id}"

    def case_history(self, case_id: str) -> str:
        return f"{self.prefix}case:{case_id}:history"

    @property
    def case_seq(self) -> str:
        return f"{self.prefix}case_seq"

    @property
    def cases_open(self) -> str:
        return f"{self.prefix}cases:open"

    def cases_by_prisoner(self, number: str) -> str:
        return f"{self.prefix}cases:prisoner:{number}"

    def cases_by_establishment(self, code: str) -> str:
        return f"{self.prefix}cases:establishment:{code}"

    # -- the web UI (gateway.ui) ------------------------------------------------------------------
    @property
    def ui_users(self) -> str:
        return f"{self.prefix}ui:users"

    def ui_session(self, digest: str) -> str:
        return f"{self.prefix}ui:session:{digest}"

    def ui_signin(self, kind: str, name: str) -> str:
        return f"{self.prefix}ui:signin:{kind}:{name}"

    # -- social contacts (cases.contacts) and their removal tasks -------------------------------
    def contact_list(self, list_id: str) -> str:
        return f"{self.prefix}contacts:list:{list_id}"

    def contact_held(self, list_id: str) -> str:
        return f"{self.prefix}contacts:held:{list_id}"

    @property
    def contact_ident_prefix(self) -> str:
        return f"{self.prefix}contacts:ident:"

    @property
    def contact_lists(self) -> str:
        return f"{self.prefix}contacts:lists"

    @property
    def contacts_dirty(self) -> str:
        return f"{self.prefix}contacts:dirty"

    @property
    def contacts_sweep(self) -> str:
        return f"{self.prefix}contacts:sweep"

    @property
    def contacts_sweeper(self) -> str:
        return f"{self.prefix}contacts:sweeper"

    @property
    def contact_tasks(self) -> str:
        return f"{self.prefix}ctasks"

    def contact_tasks_by_establishment(self, code: str) -> str:
        return f"{self.prefix}ctasks:est:{code}"

    def contact_tasks_open(self, code: str) -> str:
        return f"{self.prefix}ctasks:open:{code}"

    def contact_tasks_by_reference(self, reference: str) -> str:
        return f"{self.prefix}ctasks:ref:{reference}"

    def contact_tasks_by_list(self, list_id: str) -> str:
        return f"{self.prefix}ctasks:list:{list_id}"

    @property
    def contact_task_establishments(self) -> str:
        return f"{self.prefix}ctasks:establishments"

    def mailroom_held(self, day: str) -> str:
        return f"{self.prefix}mailroom:held:{day}"
