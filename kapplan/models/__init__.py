"""What every layer may import: the value syntax of SPEC §1, the protocol,
client, clinic and plan models, the fixed options, and the one exception tree.

Models import no other layer; ``tests/test_layers.py`` keeps it so.
"""
