"""The hit log: every non-allow decision as a ``Hit`` (model) with what was tried (evidence),
committed to the local spool before the answer goes back (spool) and shipped to the Redis hits
stream (shipper). It is read back for people and the API through the hit index
(``cases.hitindex``), by ``gateway.hits_read``."""
