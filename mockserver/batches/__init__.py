"""Message Batches with durable state: create, poll, cancel, expire, delete, stream results.

``service`` (its records in the store, its lifetime), ``processor`` (the background task
answering items through the chain), ``handlers`` (the six endpoints), ``envelope`` and
``objects`` (the wire format). The records themselves: mockserver/store/.
"""
