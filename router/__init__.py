"""Router-side sessions run inside the Crossbar router worker (authentication, authorization)."""
