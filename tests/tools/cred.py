#!/usr/bin/env python3
"""Derives hio's credentials from a cluster token (lib/hio_cred.h), independently of
the C code: cred.py TOKEN_FILE join|metrics|pe ID|p2p ID."""
import hashlib
import hmac
import sys


def mac(key, msg):
    return hmac.new(key.encode(), msg.encode(), hashlib.sha256).hexdigest()


def main():
    tok = open(sys.argv[1]).read().strip()
    kind = sys.argv[2]
    if kind == "join":
        print("hio-join." + mac(tok, "hio join"))
    elif kind == "metrics":
        print("hio-metrics." + mac(tok, "hio metrics"))
    elif kind in ("pe", "p2p"):
        pid = sys.argv[3]
        pe = "hio-pe.%s.%s" % (pid, mac(tok, "hio pe " + pid))
        print(pe if kind == "pe" else "hio-p2p." + mac(pe, "hio p2p"))
    else:
        sys.exit("cred.py TOKEN_FILE join|metrics|pe ID|p2p ID")


if __name__ == "__main__":
    main()
