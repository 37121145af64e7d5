"""The secrets of one Ansible run, learned from the variables it loads, and the Redactor for them.

A value is secret when it came from a vault (an inline !vault value, or any value of a vault-encrypted
file, known by the file its Origin tag names), or when the project's secret rule marks its name (a
variable's or a dict key's) secret. Either way it must also pass the rule's minimum, so short words
and flags are never redacted. Used by the redacted stdout callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ansible._internal._datatag._tags import Origin
from ansible.parsing.vault import EncryptedString, VaultHelper, is_encrypted_file

from plugins.plugin_utils.redaction import Redactor
from plugins.plugin_utils.secret_rule import URL_NAME_SUFFIX, can_be_secret, is_secret_name, url_password

# Magic variables that repeat others (hostvars: every host's variables) or cannot hold a secret.
_SKIPPED = frozenset(
    {"hostvars", "vars", "groups", "group_names", "omit", "play_hosts", "ansible_play_hosts"}
)

Render = Callable[[Any], Any]


class RunSecrets:
    """Every secret learned so far; the redactor is rebuilt whenever one is added."""

    def __init__(self) -> None:
        self.values: set[str] = set()
        self.redactor = Redactor(())
        self._encrypted_files: dict[str, bool] = {}

    def text(self, text: str) -> str:
        return self.redactor.text(text)

    def data(self, data: Any) -> Any:
        return self.redactor.data(data)

    def add(self, values: Iterable[Any]) -> None:
        """Learn values (strings, or numbers by their decimal form) that are secret whatever their name."""
        found: set[str] = set()
        for value in values:
            _add(value, found)
        self._update(found)

    def learn(
        self, variables: Mapping[Any, Any], names: bool = True, render: Render | None = None
    ) -> list[Any]:
        """Learn the secrets among variables (name -> value, nested to any depth).

        names=False learns vault values only (for module results, whose keys name no setting).
        A value whose name marks it secret but which is a template is rendered by render; without
        one it is returned, for the caller to render once it has the variables it needs.
        Internal variables (the roles' __ prefix) are computed from inputs, so only their vault
        values count: a secret enters through an input, where it is learned by name.
        """
        walk = _Walk(self, names, render)
        # Internal variables hold registered results too (a key pair's "key", a secret's "secret_string"
        # metadata...): the names inside them name no setting either, so the whole of one is walked for
        # its vault values only.
        internal = _Walk(self, False, render)
        for name, value in variables.items():
            if name in _SKIPPED:
                continue
            if str(name).startswith("__"):
                internal.value(value, False, name)
            else:
                walk.value(value, names and is_secret_name(name), name)
        self._update(walk.found | internal.found)
        return walk.unrendered

    def render(self, unrendered: list[Any], render: Render) -> None:
        """Learn the templates learn() returned, rendered with render (None when that fails)."""
        walk = _Walk(self, True, render)
        for value, url in unrendered:
            walk.rendered(value, url)
        self._update(walk.found)

    def is_vaulted(self, value: Any) -> bool:
        if VaultHelper.get_ciphertext(value, with_tags=False) is not None:
            return True
        origin = Origin.get_tag(value)
        return origin is not None and bool(origin.path) and self._encrypted_file(origin.path)

    def _encrypted_file(self, path: str) -> bool:
        if path not in self._encrypted_files:
            try:
                with open(path, "rb") as source:
                    self._encrypted_files[path] = is_encrypted_file(source)
            except OSError:
                self._encrypted_files[path] = False
        return self._encrypted_files[path]

    def _update(self, found: set[str]) -> None:
        if not found <= self.values:
            self.values |= found
            # Swapped whole: output printed from another thread meanwhile uses the old or the new one.
            self.redactor = Redactor(sorted(self.values))


class _Walk:
    def __init__(self, secrets: RunSecrets, names: bool, render: Render | None) -> None:
        self.secrets, self.names, self.render = secrets, names, render
        self.found: set[str] = set()
        self.unrendered: list[Any] = []

    def value(self, value: Any, secret: bool, name: Any) -> None:
        if type(value) is EncryptedString:
            self._encrypted(value)
        elif isinstance(value, str):
            if str(name).upper().endswith(URL_NAME_SUFFIX) and self.names:
                self.rendered(value, url=True)
            if self.secrets.is_vaulted(value):
                _add(value, self.found)
            elif secret:
                self.rendered(value, url=False)
        elif isinstance(value, Mapping):
            for key, item in value.items():
                self.value(item, secret or (self.names and is_secret_name(key)), key)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                self.value(item, secret, name)
        elif (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (secret or self.secrets.is_vaulted(value))
        ):
            _add(value, self.found)

    def _encrypted(self, value: EncryptedString) -> None:
        try:
            plaintext = str(value)
        except Exception:
            return
        _add(plaintext, self.found)

    def rendered(self, value: str, url: bool) -> None:
        if "{{" not in value and "{%" not in value:
            rendered: Any = value
        elif self.render is None:
            self.unrendered.append((value, url))
            return
        else:
            rendered = self.render(value)
        if url:
            _add(url_password(rendered) if isinstance(rendered, str) else None, self.found)
        else:
            _add_all(rendered, self.found)


def _add_all(value: Any, found: set[str]) -> None:
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _add_all(item, found)
    else:
        _add(value, found)


def _add(value: Any, found: set[str]) -> None:
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return
    # A plain copy: tagged strings carry their origin, which the set needs not keep alive.
    text = str.__str__(value) if isinstance(value, str) else str(value)
    for form in {text, text.strip()}:
        if can_be_secret(form):
            found.add(form)
