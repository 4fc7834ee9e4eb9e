"""The hit log: every non-allow decision as a ``Hit`` (model), committed to the local spool before
the answer goes back (spool), shipped to the Redis hits stream (shipper), and read back for people
and the API by one newest-first scan (scan)."""
