"""``facecast keys``: CURVE key pairs for publishing beyond this machine."""

from __future__ import annotations

from pathlib import Path

def add_keys(sub) -> None:
    p = sub.add_parser("keys", help="create CURVE key pairs for remote publishing",
                       description="Create a CURVE key pair: NAME.key (public, give it to receivers) and "
                                   "NAME.key_secret (keep it on the publishing machine).")
    p.add_argument("action", choices=("create",))
    p.add_argument("dir", type=Path)
    p.add_argument("--name", default="facecast", help="file name of the pair: NAME.key and NAME.key_secret")
    p.set_defaults(func=_cmd_keys)


def _cmd_keys(args) -> int:
    import zmq.auth

    args.dir.mkdir(parents=True, exist_ok=True)
    public, secret = zmq.auth.create_certificates(str(args.dir), args.name)
    print(f"public key (give to receivers): {public}\nsecret key (keep private):      {secret}")
    return 0
