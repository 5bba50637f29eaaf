"""From a protocol and a client to a Plan: the client's defaults, the engine
request, planned doses, and the records a plan embeds (so it stands alone).
"""
