"""What every Certplane service runs on: event store, relay, follower, config, logging and the nameko glue.

Nothing here knows about organizations, domains or certificates.
"""
