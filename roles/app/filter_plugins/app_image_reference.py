# Filter plugin of the app role: why an image reference cannot be pulled or archived as configured,
# checked in preflight (and in the validation play) before anything is shipped or pulled.
from __future__ import annotations

import re
from typing import Any

DOCUMENTATION = r"""
name: app_image_reference_problems
short_description: Explain why an image reference cannot be delivered as configured
description:
  - Returns one sentence per problem of an image reference (repository[:tag][@digest], with an optional
    registry host and port in front), following Docker's reference grammar: repository path components
    in lowercase letters, digits and single separators (. _ __ -), a tag of at most 128 word
    characters, dots and dashes, a sha256 digest of 64 hexadecimal digits.
  - With O(source=registry), a reference without a tag or digest, or with the tag latest, is refused
    too: the host pulls a tag only when it lacks it, so a tag that moves is never fetched again. Pin an
    immutable tag or a digest.
  - An empty list means the reference is fine. The sentences name O(variable) and say what to write.
positional: source, variable
options:
  _input:
    description: The image reference.
    type: str
    required: true
  source:
    description: How the image reaches the host, registry (pulled there) or archive (saved on the controller).
    type: str
    required: true
  variable:
    description: The variable's name, for the sentences.
    type: str
    default: app_image
"""

EXAMPLES = r"""
- name: Check the image reference
  ansible.builtin.assert:
    that: app_image | app_image_reference_problems(app_image_source) | length == 0
    fail_msg: "{{ app_image | app_image_reference_problems(app_image_source) | join(' ') }}"
"""

RETURN = r"""
_value:
  description: One sentence per problem; empty when the reference can be delivered.
  type: list
  elements: str
"""

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?")
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_MAX_NAME = 255


def _split(reference: str) -> tuple[str, str, str]:
    """(name, tag, digest) of a reference; tag and digest are "" when absent."""
    name, _, digest = reference.partition("@")
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        return name[:colon], name[colon + 1 :], digest
    return name, "", digest


def _name_problems(name: str, suffix: str, variable: str) -> list[str]:
    """Why name (suffix: its :tag and @digest) is not a repository name Docker accepts."""
    components = name.split("/")
    first, domain = components[0], ""
    # Docker reads the first component as a registry when it has a dot or a port, or is localhost.
    if len(components) > 1 and ("." in first or ":" in first or first == "localhost"):
        if not _DOMAIN.fullmatch(first):
            return [f"{variable}: {first!r} is not a registry host[:port]"]
        components, domain = components[1:], first + "/"
    bad = [part for part in components if not _PATH_COMPONENT.fullmatch(part)]
    if not bad:
        too_long = len(name) > _MAX_NAME
        return [f"{variable}: the name is longer than {_MAX_NAME} characters"] if too_long else []
    if any(part.lower() != part and _PATH_COMPONENT.fullmatch(part.lower()) for part in bad):
        fixed = domain + "/".join(part.lower() for part in components) + suffix
        return [f"{variable}: repository names are lowercase: write {fixed!r}"]
    return [
        f"{variable}: {part!r} is not a repository path component (lowercase letters and digits, "
        "separated by one . _ __ or -)"
        for part in bad
    ]


def app_image_reference_problems(reference: Any, source: Any, variable: str = "app_image") -> list[str]:
    """One sentence per reason reference cannot be delivered from source."""
    example = "registry.example.com/webapp:1.4.2"
    if not isinstance(reference, str) or not reference.strip():
        return [f"{variable} is empty: set it to an image reference such as {example}"]
    if any(char.isspace() for char in reference):
        return [f"{variable} holds white space: write the reference alone, e.g. {example}"]
    name, tag, digest = _split(reference)
    problems = _name_problems(name, (f":{tag}" if tag else "") + (f"@{digest}" if digest else ""), variable)
    if tag and not _TAG.fullmatch(tag):
        problems.append(
            f"{variable}: {tag!r} is not a tag (at most 128 letters, digits, _ . -, not starting with . or -)"
        )
    if digest and not _DIGEST.fullmatch(digest):
        problems.append(f"{variable}: {digest!r} is not a digest (sha256: and 64 lowercase hex digits)")
    if source == "registry" and not digest and tag in ("", "latest"):
        moving = "latest" if tag else "no tag: Docker reads it as :latest"
        problems.append(
            f"{variable} {reference!r} names no fixed version ({moving}); "
            "the host pulls a tag only when it lacks it, so a tag that moves is never fetched again. "
            f"Pin an immutable tag (e.g. {name}:1.4.2) or a digest ({name}@sha256:...)."
        )
    return problems


class FilterModule:
    def filters(self) -> dict:
        return {"app_image_reference_problems": app_image_reference_problems}
