# Callback plugin: redacted
# The default stdout callback's output, with every secret the run loaded replaced by [REDACTED]: a task
# that forgets no_log (a debug of the settings, a failing uri call, a template diff) prints no secret,
# on the screen or in ANSIBLE_LOG_PATH. The project's ansible.cfg makes it the stdout callback.
from __future__ import annotations

import contextlib
import copy
import functools
import logging
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ansible.executor.task_result import CallbackTaskResult
from ansible.plugins.callback.default import CallbackModule as DefaultCallback
from ansible.template import Templar
from ansible.utils.display import Display

# Ansible loads plugin files by path, outside any package: this makes plugins/ importable so that
# the filters and the callback share plugins/plugin_utils, as a collection's plugins do.
if (_PROJECT := str(Path(__file__).resolve().parents[2])) not in sys.path:
    sys.path.append(_PROJECT)

from plugins.plugin_utils.redaction import RedactionError
from plugins.plugin_utils.run_secrets import RunSecrets

DOCUMENTATION = r"""
name: redacted
type: stdout
short_description: The default output, with every vault value and secret-named value redacted
description:
  - Prints exactly what the C(default) stdout callback prints (same format, colours, verbosity,
    C(--diff), C(--check), errors and warnings, and the same options), with every secret of the run
    replaced by V([REDACTED]).
  - The secrets are learned from what the run loads, before anything that could show them is printed.
    Every vault value (inline C(!vault) values and every value of a vault-encrypted file, in the
    inventory, group and host vars, extra vars, play vars and vars files, role vars and defaults,
    task and block vars, and files loaded later by C(include_vars)); every value of a variable or
    dict key that the project's secret-name rule marks secret (plugins/plugin_utils/secret_rule.py,
    the rule of the C(mask_secrets) filter and of the app's log filter), rendered when it is a
    template; the password of a URL held by a variable or key ending in C(DATABASE_URL); private
    C(vars_prompt) answers. Variables set at run time by C(set_fact) and facts are learned the same way;
    registered results only for their vault values (their keys name no setting).
  - Values that only look secret by coincidence are never redacted. The rule's minimum (as in the
    app's log filter) leaves out values shorter than 4 characters once stripped and the words
    V(true), V(false), V(yes), V(no), V(none), V(null).
  - A secret is also found in the forms printing gives it (JSON-escaped, URL-quoted, base64, its lines
    joined otherwise or alone), through the one implementation of the C(redact) filter.
  - Task results are redacted as data before they are formatted, so a secret cannot be split by the
    YAML or JSON formatting; every line Ansible prints (banners, warnings, errors, verbose messages)
    is redacted again as text, and so is every line written to the log file (C(ANSIBLE_LOG_PATH)).
  - Rendering a secret-named template at play start runs its lookups once more than the play does.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as the stdout callback (C(stdout_callback = redacted), this project's ansible.cfg)
"""

# One per process: the display and the log handler, wrapped once, read the secrets of the whole run.
RUN = RunSecrets()

# Printed by the default through the display from the original result objects (redacted there as text).
_EVENT_KEYS = ("exception", "warnings", "deprecations")
# Events that carry a task result; the last four end a task on a host (its result may be registered next).
_RESULT_EVENTS = (
    "v2_runner_on_async_poll",
    "v2_runner_on_async_ok",
    "v2_runner_on_async_failed",
    "v2_on_file_diff",
    "v2_runner_item_on_ok",
    "v2_runner_item_on_failed",
    "v2_runner_item_on_skipped",
    "v2_runner_retry",
)
_FINAL_EVENTS = ("v2_runner_on_ok", "v2_runner_on_failed", "v2_runner_on_skipped", "v2_runner_on_unreachable")


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "redacted"

    def __init__(self) -> None:
        super().__init__()
        _redact_output(self._display)
        self._variable_managers: dict[int, Any] = {}
        self._roles: dict[int, Any] = {}
        self._register: str | None = None

    # Learning: before each event that could print what was just loaded.

    def v2_playbook_on_start(self, playbook: Any) -> None:
        plays = playbook.get_plays()
        if plays and (manager := plays[0].get_variable_manager()) is not None:
            # Extra vars show in the CLI arguments printed at -vvvv, before any play starts.
            with _learning_failure_warned("the extra vars"):
                RUN.learn(manager.extra_vars)
        super().v2_playbook_on_start(playbook)

    def v2_playbook_on_play_start(self, play: Any) -> None:
        manager, loader = play.get_variable_manager(), play.get_loader()
        self._watch(manager)
        with _learning_failure_warned("the private vars_prompt answers"):
            prompts = play.vars_prompt
            RUN.add(play.vars.get(prompt.get("name")) for prompt in prompts if prompt.get("private", True))
        for host in _hosts_of_run(play):
            with _learning_failure_warned(host):
                variables = manager.get_vars(play=play, host=host, include_hostvars=False)
                RUN.learn(variables, render=_renderer(loader, variables))
        super().v2_playbook_on_play_start(play)

    def v2_playbook_on_stats(self, stats: Any) -> None:
        # Custom stats (set_stats) are formatted like results, then joined into one line.
        shown = copy.copy(stats)
        with contextlib.suppress(RedactionError):
            shown.custom = RUN.data(stats.custom)
        super().v2_playbook_on_stats(shown)

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._learn_task(task)
        super().v2_playbook_on_task_start(task, is_conditional)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._learn_task(task)
        super().v2_playbook_on_handler_task_start(task)

    def _learn_task(self, task: Any) -> None:
        with _learning_failure_warned(task):
            self._learn_task_vars(task)

    def _learn_task_vars(self, task: Any) -> None:
        # Task, block and include vars, and the vars of roles the play did not list (import_role,
        # include_role), are not part of the play's variables.
        unrendered = RUN.learn(task.get_vars())
        role = task._role
        if role is not None and id(role) not in self._roles:
            self._roles[id(role)] = role
            unrendered += RUN.learn(role.get_default_vars()) + RUN.learn(role.get_vars())
        if unrendered and self._play is not None:
            manager, loader = self._play.get_variable_manager(), self._play.get_loader()
            for host in _hosts_of_run(self._play):
                variables = manager.get_vars(play=self._play, host=host, task=task, include_hostvars=False)
                RUN.render(unrendered, _renderer(loader, variables))

    def _learn_added_host(self, added: Any) -> None:
        """A host add_host put in the inventory (already, when its result arrives) has the variables of
        its groups from now on, vaulted ones included: a later task of this play may print them."""
        with _learning_failure_warned("a host added by add_host"):
            manager, loader = self._play.get_variable_manager(), self._play.get_loader()
            host = manager._inventory.get_host(added["host_name"])
            if host is not None:
                variables = manager.get_vars(play=self._play, host=host, include_hostvars=False)
                RUN.learn(variables, render=_renderer(loader, variables))

    def _watch(self, manager: Any) -> None:
        """Learn what the run sets later (include_vars, set_fact, facts, registered results) as it is set:
        the strategy stores it in the variable manager before it reports the task that set it."""
        if id(manager) in self._variable_managers:
            return
        self._variable_managers[id(manager)] = manager
        manager.set_host_variable = _learning(
            manager.set_host_variable, lambda _host, name, value: {name: value}
        )
        manager.set_host_facts = _learning(manager.set_host_facts, lambda _host, facts: facts)
        manager.set_nonpersistent_facts = _learning(
            manager.set_nonpersistent_facts, lambda _host, facts: facts, self._is_registered_result
        )

    def _is_registered_result(self, facts: Mapping[str, Any]) -> bool:
        if "ansible_failed_result" in facts:
            return True
        if len(facts) != 1 or self._register is None:
            return False
        name, value = next(iter(facts.items()))
        return (
            name == self._register
            and isinstance(value, Mapping)
            and not {"changed", "failed", "skipped"}.isdisjoint(value)
        )


def _result_event(name: str) -> Callable[..., None]:
    printing = getattr(DefaultCallback, name)

    @functools.wraps(printing)
    def event(self: CallbackModule, result: CallbackTaskResult, *args: Any, **kwargs: Any) -> None:
        if name in _FINAL_EVENTS:
            self._register = result.task.register
        if "add_host" in result.result and self._play is not None:
            self._learn_added_host(result.result["add_host"])
        printing(self, _redacted(result), *args, **kwargs)

    return event


for _name in _RESULT_EVENTS + _FINAL_EVENTS:
    setattr(CallbackModule, _name, _result_event(_name))


def _redacted(result: CallbackTaskResult) -> CallbackTaskResult:
    """A copy of the result without secrets, for the default's formatting (YAML or JSON, which could
    escape or fold a secret past a search of the printed text)."""
    if not RUN.redactor:
        return result
    data = result.result
    try:
        body = RUN.data({key: value for key, value in data.items() if key not in _EVENT_KEYS})
    except RedactionError:
        return result  # a secret in two keys of one dict: the printed text is still redacted
    body.update((key, data[key]) for key in _EVENT_KEYS if key in data)
    redacted = CallbackTaskResult(result.host, result.task, body, result.task_fields)
    # body is the native view already (made from result.result): spare the default a second conversion.
    redacted.__dict__["result"] = body
    return redacted


@contextlib.contextmanager
def _learning_failure_warned(source: Any) -> Iterator[None]:
    """Printing goes on when learning fails (the output of the event would be lost otherwise), with a
    warning that names the source and the error type, never a value."""
    try:
        yield
    except Exception as error:
        where = source if isinstance(source, str) else type(source).__name__
        with contextlib.suppress(Exception):
            where = source.get_name()
        Display().warning(
            f"redacted: could not learn the secrets of {where} ({type(error).__name__}); "
            "a value of it may be printed unredacted"
        )


def _hosts_of_run(play: Any) -> list[Any]:
    """The play's hosts and every other host of the inventory: a task may print another host's
    variables (hostvars), and what the run loaded for it is as secret."""
    inventory = play.get_variable_manager()._inventory
    hosts = {host.name: host for host in inventory.get_hosts("all")}
    hosts.update((host.name, host) for host in inventory.get_hosts(play.hosts))
    return list(hosts.values())


def _renderer(loader: Any, variables: Mapping[str, Any]) -> Callable[[Any], Any]:
    @functools.cache
    def templar() -> Templar:
        return Templar(loader=loader, variables=variables)

    def render(value: Any) -> Any:
        try:
            return templar().template(value)
        except Exception:
            return None

    return render


def _learning(
    setter: Callable[..., Any],
    variables: Callable[..., Mapping[Any, Any]],
    is_result: Callable[[Mapping[Any, Any]], bool] | None = None,
) -> Callable[..., Any]:
    @functools.wraps(setter)
    def learn_then_set(*args: Any) -> Any:
        learned = variables(*args)
        with _learning_failure_warned(learned):
            RUN.learn(learned, names=not (is_result and is_result(learned)))
        return setter(*args)

    return learn_then_set


def _redact_output(display: Any) -> None:
    """Every line Ansible prints, whoever prints it, goes through its one Display (a worker's lines
    too, proxied to this process), and the log file gets each line from there: redact both once."""
    if getattr(display, "_redacted_output", False):
        return
    for method in ("display", "banner"):
        setattr(display, method, _redacting(getattr(display, method)))
    display._redacted_output = True
    for handler in logging.getLogger().handlers:
        handler.addFilter(_LogRedaction())


def _redacting(printer: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(printer)
    def redacted(msg: Any, *args: Any, **kwargs: Any) -> None:
        printer(RUN.text(msg) if isinstance(msg, str) else msg, *args, **kwargs)

    return redacted


class _LogRedaction(logging.Filter):
    """The log file's last line of defence: verbose lines logged without being displayed come here only."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = RUN.text(message)
        if redacted is not message:
            record.msg, record.args = redacted, None
        return True
