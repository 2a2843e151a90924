"""The sensor: eBPF capture, events, state, Falco rules, outputs.

It must not import bastion.runtime (the two share only bastion.identity).
"""
