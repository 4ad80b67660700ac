"""Ansible's linear strategy that forks no worker for a task whose `when` is false, nor for an action that
only runs in the controller.

Ansible forks one worker process per task and host, even when the worker's first step is to find the task's
`when` false and report it skipped. On the lab that fork costs 25-30 ms of controller CPU per skipped
task-host (the kernel copying the main process's memory map), and a no-op rerun of the nodes phase skips about
2,000 task-hosts on 100 nodes. This strategy evaluates the condition in the main process the way the worker
would (same variables, same connection "magic" variables) and, when it is false, sends the worker's skipped
result itself. A loop whose condition is false for every item, or whose list is empty, is skipped the same way:
the main process runs Ansible's own TaskExecutor on it, which finds every item skipped without a connection.
Anything else (a true or failing condition, a warning, delegate_to, a `with_` lookup) goes on as usual.

The same holds for the actions that never touch the node (CONTROLLER_ACTIONS: their plugins declare
_requires_connection = False), such as the argument validation Ansible adds to every role, once per host:
the main process runs Ansible's own TaskExecutor for them on a copy of the task, as the worker would on its
copy, and sends its result through the same queue. CLUSTERBOOT_CONTROLLER_ACTIONS=off forks workers for them
as Ansible does (an escape hatch, and the benchmark's lever).

Jinja compiles a template string to Python code each time Ansible templates it, and Ansible keeps no compiled
template: 3-4 ms a template, per task-host, in the main process (conditions, loops) and again in every forked
worker (the module's arguments, the variables they read, the role's template files). This plugin keeps the code
per process, keyed by the source and every setting the compiler reads, and compiles those templates in the main
process before forking a task's workers, so each worker inherits them. CLUSTERBOOT_TEMPLATE_CACHE=off compiles
each time, as Ansible does.

The base is Ansible's `linear`, or the strategy named by CLUSTERBOOT_STRATEGY_BASE (`mitogen_linear`, set by
clusterboot's runner when Mitogen is installed; its folder must then be in ANSIBLE_STRATEGY_PLUGINS too).

All of this reaches into ansible-core's private modules (ansible._internal), which any release may change. So
the levers switch on only for the ansible-core minors they are tested on (LEVERS_TESTED_ON); on any other, or
with CLUSTERBOOT_LEVERS=off, this strategy is its base unchanged, after a one-line notice on stderr.
"""

from __future__ import annotations

import os
import types
import typing as t
from pathlib import Path

from ansible.executor.task_executor import TaskExecutor
from ansible.plugins import loader as plugin_loader
from ansible.plugins.loader import strategy_loader
from ansible.release import __version__ as ANSIBLE_CORE_VERSION
from ansible.template import trust_as_template
from ansible.utils.display import Display
from jinja2 import nodes
from jinja2.environment import TemplateExpression
from jinja2.exceptions import TemplateSyntaxError
from jinja2.parser import Parser

DOCUMENTATION = """
    name: clusterboot_linear
    short_description: linear, forking no worker for a false condition or a controller-only action
    description:
        - Ansible's linear strategy (or CLUSTERBOOT_STRATEGY_BASE's) that reports a task-host whose C(when) is false
          as skipped, and runs set_fact, debug, assert, fail and validate_argument_spec, without forking a worker.
    author: clusterboot
"""

# Actions whose plugins never use the connection and whose results the strategy only records (not include,
# add_host or group_by, which it interprets).
CONTROLLER_ACTIONS = frozenset(f"{prefix}{name}" for prefix in ("", "ansible.builtin.", "ansible.legacy.")
                               for name in ("validate_argument_spec", "set_fact", "debug", "assert", "fail"))

# The ansible-core minors whose private interfaces these levers are tested against (CI runs on the pinned one).
LEVERS_TESTED_ON = ("2.19",)


def levers_enabled(core_version: str, environ: t.Mapping[str, str]) -> bool:
    return (environ.get("CLUSTERBOOT_LEVERS", "on") != "off"
            and ".".join(core_version.split(".")[:2]) in LEVERS_TESTED_ON)


LEVERS = levers_enabled(ANSIBLE_CORE_VERSION, os.environ)
if LEVERS:
    from ansible._internal import _display_utils, _task
    from ansible._internal._templating._engine import TemplateEngine, TemplateOptions
    from ansible._internal._templating._jinja_bits import (_TEMPLATE_OVERRIDE_FIELD_NAMES, AnsibleEnvironment,
                                                           _TemplateCompileContext, is_possibly_template)
    from ansible._internal._templating._utils import TemplateContext
    from ansible.executor.task_result import _RawTaskResult

TEMPLATE_CACHE = LEVERS and os.environ.get("CLUSTERBOOT_TEMPLATE_CACHE", "on") != "off"

# Code objects by (kind, environment class, source, the lexer's settings, escape_backslashes): the generated code
# depends on nothing else, and Template.from_code runs it in a fresh namespace for every use.
_compiled: dict[tuple, types.CodeType] = {}
if LEVERS:
    _jinja_compile = AnsibleEnvironment.compile
    _jinja_compile_expression = AnsibleEnvironment.compile_expression


def _key(env: "AnsibleEnvironment", kind: str, source: str) -> tuple:
    context = _TemplateCompileContext.current(optional=True)
    return (kind, type(env), str(source), tuple(getattr(env, field) for field in _TEMPLATE_OVERRIDE_FIELD_NAMES),
            context.escape_backslashes if context else None)


def _compile_once(self, source, name=None, filename=None, raw=False, defer_init=False):
    """Environment.compile, from the process's cache for a template string (not for a file a loader reads, nor
    Ansible's template-debugging mode)."""
    if (not isinstance(source, str) or name is not None or filename is not None or raw or defer_init
            or self._debuggable_template_source):
        return _jinja_compile(self, source, name, filename, raw, defer_init)
    key = _key(self, "template", source)
    code = _compiled.get(key)
    if code is None:
        code = _compiled[key] = _jinja_compile(self, source)
    return code


def _compile_expression_once(self, source, undefined_to_none=True):
    """Environment.compile_expression (how Ansible evaluates every `when`) as Jinja 3.1 writes it, its code from
    the process's cache."""
    if self._debuggable_template_source:
        return _jinja_compile_expression(self, source, undefined_to_none)
    key = _key(self, "expression", source)
    code = _compiled.get(key)
    if code is None:
        parser = Parser(self, source, state="variable")
        try:
            expression = parser.parse_expression()
            if not parser.stream.eos:
                raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno, None, None)
            expression.set_environment(self)
        except TemplateSyntaxError:
            self.handle_exception(source=source)
        body = [nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)]
        code = _compiled[key] = _jinja_compile(self, nodes.Template(body, lineno=1))
    return TemplateExpression(self.template_class.from_code(self, code, self.make_globals(None), None),
                              undefined_to_none)


if TEMPLATE_CACHE:
    AnsibleEnvironment.compile = _compile_once
    AnsibleEnvironment.compile_expression = _compile_expression_once


def _template_strings(value) -> t.Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _template_strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _template_strings(item)


Base = strategy_loader.get(os.environ.get("CLUSTERBOOT_STRATEGY_BASE", "linear"), class_only=True)


class LeverStrategy(Base):  # type: ignore[misc,valid-type]
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._compiled_for: set[str] = set()  # tasks (uuid) and roles (path) whose templates were compiled

    def _queue_task(self, host, task, task_vars, play_context):
        skipped = self._skipped_in_controller(host, task, task_vars, play_context)
        if skipped is None and not (self._runs_in_controller(task)
                                    or self._loop_skipped_in_controller(host, task, task_vars, play_context)):
            self._compile_templates(task, task_vars)
            return super()._queue_task(host, task, task_vars, play_context)
        # What _queue_task and a worker would have done, minus the fork; the result goes through the workers'
        # queue to the same results thread.
        self._queued_task_cache[(host.name, task._uuid)] = {
            "host": host, "task": task, "task_vars": task_vars, "play_context": play_context}
        self._tqm.send_callback("v2_runner_on_start", host, task)
        self._pending_results += 1
        if skipped is None:
            self._run_in_controller(host, task, task_vars, play_context)
        else:
            self._final_q.send_task_result(
                _RawTaskResult(host=host, task=task, return_data=skipped, task_fields=task.dump_attrs()))
        return None

    def _compile_templates(self, task, task_vars) -> None:
        """Before a task's first worker is forked: compile the templates its workers will (its arguments and
        environment, the variables they may read, which are templated lazily in the worker, and its role's
        template files). Each task and role once; a template compiled before costs a lookup. An error is left for
        the worker to report."""
        if not TEMPLATE_CACHE or task._uuid in self._compiled_for:
            return
        self._compiled_for.add(task._uuid)
        engine = TemplateEngine(loader=self._loader, variables=task_vars)
        variables = [value for name, value in task_vars.items() if name not in ("vars", "hostvars", "groups")]
        texts = [(text, TemplateOptions.DEFAULT) for text in _template_strings([task.args, task.environment, variables])
                 if is_possibly_template(text) and engine._trust_check(text, skip_handler=True)]
        # The role's template files, once per role, as the template and config_files actions compile them; a file
        # that cannot be read as text is left to the worker to report.
        role_path = task._role._role_path if task._role else None
        if role_path and role_path not in self._compiled_for:
            self._compiled_for.add(role_path)
            for path in sorted(Path(role_path, "templates").rglob("*")):
                try:
                    texts.append((trust_as_template(path.read_text()), TemplateOptions(escape_backslashes=False)))
                except (OSError, UnicodeDecodeError):  # a folder, an unreadable or binary file
                    continue
        # In the context the engine compiles in, a syntax error is returned as a deferred error (not cached, not
        # raised): the worker compiles that template again and reports it.
        for text, options in texts:
            with TemplateContext(template_value=text, templar=engine, options=options):
                engine._compile_template(text, options)

    @staticmethod
    def _runs_in_controller(task) -> bool:
        """A controller-only action that cannot hold the main process up (no retries, delay or timeout)."""
        return (task.action in CONTROLLER_ACTIONS and not task.delegate_to and not task.async_val
                and not task.until and task.retries is None and not task.timeout
                and os.environ.get("CLUSTERBOOT_CONTROLLER_ACTIONS", "on") != "off")

    def _run_in_controller(self, host, task, task_vars, play_context) -> None:
        """WorkerProcess._run without the fork: TaskExecutor mutates its task and variables, so it gets copies."""
        copy = task.copy(exclude_parent=True, exclude_tasks=True)
        copy._parent = task._parent
        executor = TaskExecutor(host, copy, task_vars.copy(), play_context, self._loader,
                                plugin_loader.get_plugin_loader_namespace(), self._final_q, self._variable_manager)
        with _task.TaskContext(copy):
            result = executor.run()
        self._final_q.send_task_result(
            _RawTaskResult(host=host, task=copy, return_data=result, task_fields=copy.dump_attrs()))

    def _loop_skipped_in_controller(self, host, task, task_vars, play_context) -> bool:
        """A `loop` whose list is empty, or whose condition is false for each item with the item's variables
        (TaskExecutor._run_loop's, without loop_control's extras): its TaskExecutor never connects to the node."""
        control = task.loop_control
        if (task.loop is None or task.loop_with or task.delegate_to is not None
                or (control and (control.loop_var != "item" or control.index_var or control.extended))):
            return False
        try:
            items = TemplateEngine(loader=self._loader, variables=task_vars).template(task.loop)
        except Exception:  # the worker templates it again and reports the error as usual
            return False
        return isinstance(items, list) and all(
            self._condition_false(host, task, task_vars | {"item": item, "ansible_loop_var": "item"}, play_context)
            for item in items)

    def _skipped_in_controller(self, host, task, task_vars, play_context) -> dict[str, t.Any] | None:
        """The worker's result for a task whose condition is false (TaskExecutor._execute_internal), or None."""
        if task.loop is not None or task.loop_with:
            return None  # a loop's condition is per item
        return self._condition_false(host, task, task_vars, play_context)

    def _condition_false(self, host, task, task_vars, play_context) -> dict[str, t.Any] | None:
        """The skipped result when the task's `when` is false with these variables, else None."""
        if not task.when or task.delegate_to is not None:
            return None  # delegation changes the variables
        try:
            templar = TemplateEngine(loader=self._loader, variables=task_vars)
            condition_vars = task_vars.copy()
            context = play_context.set_task_and_variable_override(task=task, variables=task_vars, templar=templar)
            context.post_validate(templar=templar)
            if not context.remote_addr:
                context.remote_addr = host.address
            context.update_vars(condition_vars)
            false_condition: dict[str, t.Any] = {}
            with _display_utils.DeferredWarningContext(variables=task_vars) as warnings:
                holds = task._resolve_conditional(task.when, condition_vars, result_context=false_condition)
            if holds or warnings.get_warnings() or warnings.get_deprecation_warnings():
                return None
            result = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False",
                      **false_condition}
            task.update_result_no_log(templar, result)
            return result
        except Exception:  # the worker evaluates it again and reports the error as usual
            return None


if LEVERS:
    StrategyModule = LeverStrategy
else:
    Display().display(f"clusterboot_linear: the speed levers are off (ansible-core {ANSIBLE_CORE_VERSION}; tested "
                      f"on {', '.join(LEVERS_TESTED_ON)}; CLUSTERBOOT_LEVERS={os.environ.get('CLUSTERBOOT_LEVERS', 'on')}): "
                      f"running {Base.__module__.rsplit('.', 1)[-1]} as it is", stderr=True)  # stdout may be JSON

    class StrategyModule(Base):  # type: ignore[misc,valid-type,no-redef]
        """The base strategy unchanged."""
