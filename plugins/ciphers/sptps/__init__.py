"""tinc 1.1's SPTPS cipher suite: Ed25519 key files, tinc's base64 and expanded-key signing."""
