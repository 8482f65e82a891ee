"""WeCom (企业微信) callback encryption: the official WXBizMsgCrypt scheme (加解密方案说明).

- msg_signature = sha1 of the sorted, concatenated [token, timestamp, nonce, encrypt];
- AES-256-CBC with key = base64decode(EncodingAESKey + "="), iv = key[:16];
- plaintext = 16 random bytes + 4-byte big-endian length of msg + msg + receiveid, padded with
  PKCS#7 to a multiple of 32 bytes (not AES's 16: the official libraries pad to 32);
- receiveid is the corp id for an enterprise's own app (the suite id / corp id in other scenarios).

Verified against the official samples (token "QDG6eK", corp "wx5823bf96d3bd56c7"), see
tests/adapters/test_wecom.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import xml.etree.ElementTree as ET

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

PAD_BLOCK = 32
_RANDOM_PREFIX = 16


class WeComCryptoError(Exception):
    """A callback could not be decrypted or parsed: malformed input."""


class WeComSignatureError(WeComCryptoError):
    """msg_signature does not match: the request did not come from WeCom (or the token is wrong)."""


class WeComReceiveIdError(WeComCryptoError):
    """Decrypted fine but addressed to another corp/app: refuse it like a bad signature."""


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def parse_xml(document: str | bytes) -> ET.Element:
    """Parse a small XML document from the network, refusing DTDs.

    The callbacks never carry a DTD; refusing them keeps entity-expansion tricks out of the parser
    without a dependency on defusedxml."""
    text = document.decode("utf-8", errors="replace") if isinstance(document, bytes) else document
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise WeComCryptoError("XML with a DTD refused")
    try:
        return ET.fromstring(text)
    except ET.ParseError as error:
        raise WeComCryptoError(f"not XML: {error}") from None


def child_text(element: ET.Element, path: str) -> str | None:
    found = element.find(path)
    return None if found is None or found.text is None else found.text.strip()


class WeComCrypto:
    """Encrypt, decrypt and sign WeCom callback payloads for one app (token, key, receiveid)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be the 43 characters WeCom shows")
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error as error:
            raise ValueError(f"EncodingAESKey is not base64: {error}") from None
        self._token = token
        self._key = key  # 32 bytes: AES-256
        self._receive_id = receive_id

    # --- signatures -------------------------------------------------------------------------------

    def sign(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return signature(self._token, timestamp, nonce, encrypted)

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        expected = self.sign(timestamp, nonce, encrypted)
        if not hmac.compare_digest(msg_signature.lower().encode(), expected.encode()):
            raise WeComSignatureError("msg_signature mismatch")

    # --- the payload ------------------------------------------------------------------------------

    def encrypt(self, message: str, *, random_prefix: bytes | None = None) -> str:
        """Base64 ciphertext of `message` for this receiveid; random_prefix only for fixed test vectors."""
        prefix = os.urandom(_RANDOM_PREFIX) if random_prefix is None else random_prefix
        if len(prefix) != _RANDOM_PREFIX:
            raise ValueError("random_prefix must be 16 bytes")
        body = message.encode()
        plain = prefix + struct.pack(">I", len(body)) + body + self._receive_id.encode()
        padding = PAD_BLOCK - len(plain) % PAD_BLOCK  # 1..32, a full block when already aligned
        plain += bytes([padding]) * padding
        encryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()

    def decrypt(self, encrypted: str) -> str:
        """The msg inside a ciphertext; checks the padding, the length and the receiveid."""
        # A "+" in a query string may reach us decoded as a space; base64 never contains spaces.
        try:
            raw = base64.b64decode(encrypted.replace(" ", "+"), validate=True)
        except binascii.Error as error:
            raise WeComCryptoError(f"ciphertext is not base64: {error}") from None
        if not raw or len(raw) % 16:
            raise WeComCryptoError("ciphertext is not a whole number of AES blocks")
        decryptor = Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16])).decryptor()
        plain = decryptor.update(raw) + decryptor.finalize()
        return self._unwrap(_unpad(plain))

    def _unwrap(self, plain: bytes) -> str:
        content = plain[_RANDOM_PREFIX:]
        if len(content) < 4:
            raise WeComCryptoError("decrypted payload too short")
        (length,) = struct.unpack(">I", content[:4])
        if length > len(content) - 4:
            raise WeComCryptoError("decrypted length field exceeds the payload")
        message, receive_id = content[4 : 4 + length], content[4 + length :]
        if receive_id.decode(errors="replace") != self._receive_id:
            raise WeComReceiveIdError(f"receiveid {receive_id.decode(errors='replace')!r} is not ours")
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise WeComCryptoError("decrypted message is not UTF-8") from None

    # --- the three operations of the callback protocol -------------------------------------------

    def verify_url(self, msg_signature: str, timestamp: str, nonce: str, echostr: str) -> str:
        """GET URL verification: check the signature over echostr, return its plaintext to echo back."""
        echostr = echostr.replace(" ", "+")
        self.verify(msg_signature, timestamp, nonce, echostr)
        return self.decrypt(echostr)

    def decrypt_message(self, msg_signature: str, timestamp: str, nonce: str, body: str | bytes) -> str:
        """POSTed callback: the plaintext XML inside the envelope's <Encrypt>, after the signature check."""
        encrypted = child_text(parse_xml(body), "Encrypt")
        if not encrypted:
            raise WeComCryptoError("no <Encrypt> in the callback body")
        self.verify(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)

    def encrypt_message(self, message: str, timestamp: str, nonce: str) -> str:
        """The encrypted XML envelope for a passive reply (被动回复), as the official libraries build it."""
        encrypted = self.encrypt(message)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{self.sign(timestamp, nonce, encrypted)}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp>"
            f"<Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )


def _unpad(plain: bytes) -> bytes:
    padding = plain[-1]
    if not 1 <= padding <= PAD_BLOCK or plain[-padding:] != bytes([padding]) * padding:
        raise WeComCryptoError("bad padding: wrong EncodingAESKey?")
    return plain[:-padding]
