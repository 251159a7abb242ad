"""Many workers and many routers: room ownership by leases, failover, and the sessions of a
worker to every router."""
