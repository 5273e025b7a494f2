"""tinc 1.0's legacy cipher suite: RSA key files and the OpenSSL EVP cipher and digest names.

``tincd`` 1.0 authenticates meta connections with RSA and protects packets with
an OpenSSL cipher and HMAC digest chosen by name (``Cipher``, ``Digest``).
"""
