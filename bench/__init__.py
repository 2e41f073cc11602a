"""``make bench``: DynamoDB calls per request against the budgets, in-process latency, cold import.

Scenario modules are ``bench/<name>.py`` exposing ``SCENARIOS``: a list of
``Scenario(name, budget, setup, run)``; ``setup(env)`` returns state, ``run(env, state)`` makes
exactly one request and returns the HTTP status.
"""
