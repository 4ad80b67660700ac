"""plugins/strategy/clusterboot_linear's compiled-template cache: the code it hands back is the code Jinja
compiles for that source in that setting, whatever was cached before, and templates render as without it.
The same plugin's real ansible-playbook runs (tests/test_strategy.py) compare whole playbooks with Ansible's
linear strategy, which compiles every time. A lever: on an ansible-core the levers are not tested on, these skip
(and ansible-core's private modules are not imported)."""

import os

import pytest

from strategy_levers import LEVERS_ON, OFF_REASON, load_plugin

if not LEVERS_ON:
    pytest.skip(OFF_REASON, allow_module_level=True)

# After the skip on purpose: another ansible-core may not have these private modules (2.21 moved some).
from ansible._internal._templating._engine import TemplateEngine, TemplateOptions  # noqa: E402
from ansible._internal._templating._jinja_bits import AnsibleEnvironment, _TemplateCompileContext  # noqa: E402
from ansible.errors import AnsibleTemplateSyntaxError  # noqa: E402
from ansible.template import trust_as_template  # noqa: E402


@pytest.fixture(scope="module")
def strategy():
    """The plugin module as Ansible loads it in ansible-playbook's main process (its base: Ansible's linear)."""
    os.environ.setdefault("CLUSTERBOOT_STRATEGY_BASE", "linear")
    module = load_plugin("clusterboot_linear_under_test")
    assert module.TEMPLATE_CACHE and AnsibleEnvironment.compile is module._compile_once
    return module


TEMPLATES = [
    "{{ a }}",
    "{% for x in items %}{{ x }}\n{% endfor %}\n",
    "{{ 'back\\\\slash' }} {{ a | default('b') }}",
    "#jinja2: variable_start_string: '[%', variable_end_string: '%]'\n[% a %] {{ a }}",
    "#jinja2: trim_blocks: False\n{% if a %}\nyes\n{% endif %}\n",
]


@pytest.mark.parametrize("source", TEMPLATES)
def test_cached_code_is_the_code_jinja_compiles_in_each_setting(strategy, source):
    """Compiled first in one setting, then asked for in another: the answer is that setting's own code."""
    settings = [(escape, overlay) for escape in (True, False) for overlay in ({}, {"trim_blocks": False})]
    for warm_escape, warm_overlay in settings:  # warm the cache in every setting, in every order
        for escape, overlay in settings:
            env = AnsibleEnvironment().overlay(**overlay) if overlay else AnsibleEnvironment()
            warm = AnsibleEnvironment().overlay(**warm_overlay) if warm_overlay else AnsibleEnvironment()
            with _TemplateCompileContext(escape_backslashes=warm_escape):
                warm.compile(source)
            with _TemplateCompileContext(escape_backslashes=escape):
                assert env.compile(source) == strategy._jinja_compile(env, source), (escape, overlay)


def test_one_source_is_compiled_once_per_process(strategy):
    first, second = AnsibleEnvironment(), AnsibleEnvironment()
    assert first.compile("{{ once }}") is second.compile("{{ once }}")
    assert first.compile("{{ once }}", name="a-file.j2") is not second.compile("{{ once }}", name="a-file.j2")


def render(source: str, variables: dict, **options):
    return TemplateEngine(variables=variables).template(trust_as_template(source),
                                                         options=TemplateOptions(**options))


def test_templates_render_with_each_engines_own_variables(strategy):
    for a in ("x", "y"):
        assert render("{{ a }}-{% for i in n %}{{ i }}{% endfor %}", {"a": a, "n": [1, 2]}) == f"{a}-12"
    assert render("#jinja2: variable_start_string: '[%', variable_end_string: '%]'\n[% a %] {{ a }}",
                  {"a": "x"}) == "x {{ a }}"
    assert render("{{ a }}", {"a": "x"}) == "x"


def test_expressions_evaluate_with_each_engines_own_variables(strategy):
    condition = trust_as_template("count | int > 1 and name is match('w')")
    assert TemplateEngine(variables={"count": "2", "name": "wk1"}).evaluate_conditional(condition) is True
    assert TemplateEngine(variables={"count": "2", "name": "cp1"}).evaluate_conditional(condition) is False
    assert TemplateEngine(variables={"count": 0, "name": "wk1"}).evaluate_conditional(condition) is False


def test_a_syntax_error_is_raised_every_time_not_cached(strategy):
    for _ in range(2):
        with pytest.raises(AnsibleTemplateSyntaxError):
            TemplateEngine(variables={}).evaluate_conditional(trust_as_template("count >"))
        with pytest.raises(AnsibleTemplateSyntaxError):
            render("{{ count > }}", {})
