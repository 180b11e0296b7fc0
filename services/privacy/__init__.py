"""Personal data protection: sealing person references and personal text with per-person keys
(crypto-shredding), the key store, retention deadlines and the data protection officer's requests.

See docs/security.md ("Personal data: sealing and erasure") for the design and its guarantees.
"""
