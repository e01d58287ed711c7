"""Per-job SSH material for multi-instance tasks (multi-instance.md section 4).

Each job gets its own Ed25519 key pair; it reaches the nodes through the multi-instance
task's environment settings (never a command line), the coordination command writes it with
0600 files, and the job release task deletes it. Key generation is the only randomness in
the factory, so it is injected::

    material = new_ssh_material()                          # a fresh key pair
    fixed = new_ssh_material(generate=lambda: my_key)      # deterministic, for tests
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # cryptography loads when a key is made, not with the factory
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

#: Environment variables that carry the key pair to the coordination command.
ENV_PRIVATE_KEY = "SHIPYARD_SSH_KEY"
ENV_PUBLIC_KEY = "SHIPYARD_SSH_PUB"

KeyGenerator = Callable[[], "Ed25519PrivateKey"]


@dataclass(frozen=True)
class SshMaterial:
    """A key pair: ``private_key`` in OpenSSH format, ``public_key`` as one authorized_keys line.

    The repr shows the public key only, so the private key never lands in a log or traceback.
    """

    private_key: str = field(repr=False)
    public_key: str

    def __repr__(self) -> str:
        return f"SshMaterial(public_key={self.public_key!r})"

    def environment(self) -> dict[str, str]:
        """The task environment settings that carry the pair (private key base64-encoded)."""
        encoded = base64.b64encode(self.private_key.encode("ascii")).decode("ascii")
        return {ENV_PRIVATE_KEY: encoded, ENV_PUBLIC_KEY: self.public_key}


def new_ssh_material(
    generate: KeyGenerator | None = None, comment: str = "shipyard"
) -> SshMaterial:
    """A new Ed25519 key pair from ``generate`` (a random one by default); ``comment`` ends
    the public key line."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    if "\n" in comment or "\r" in comment:
        raise ValueError("an SSH key comment must be one line")
    key = (generate or Ed25519PrivateKey.generate)()
    private = key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption())
    public = key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH)
    return SshMaterial(
        private_key=private.decode("ascii"),
        public_key=f"{public.decode('ascii')} {comment}".rstrip(),
    )
