"""Cipher plugins: tinc 1.0's legacy suite (RSA, EVP names) and tinc 1.1's SPTPS suite (Ed25519)."""
