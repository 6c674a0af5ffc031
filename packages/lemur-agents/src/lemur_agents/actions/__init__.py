"""Action mappers: model text <-> typed actions, never ``eval``.

Public API (each mapper implements lemur-core's ``ActionMapper``: ``parse(text)`` raising
``ActionParseError`` with a message for the model, and ``render(action)``)::

    from lemur_agents.actions import (
        WEBARENA_SCHEMA, ALFWORLD_SCHEMA, Action, ActionSchema, ActionSpec, Param,
        SymbolicMapper, PythonCallMapper, MintTagMapper, MintAction,
        FencedCodeMapper, CodeAction, SchemaFormat,
    )

    py, sym = PythonCallMapper(WEBARENA_SCHEMA), SymbolicMapper(WEBARENA_SCHEMA)
    action = py.parse('type(id=12, content="foo", press_enter_after=True)')
    sym.render(action)                     # 'type [12] [foo] [1]'
    sym.parse("click [7]")                 # Action(name='click', args={'id': 7})
    SymbolicMapper(ALFWORLD_SCHEMA).parse("take apple 1 from countertop 1")
    MintTagMapper().parse("<execute>print(1)</execute>")     # MintAction(kind='execute', ...)
    FencedCodeMapper(("sql",)).parse("```sql\\nSELECT 1\\n```")   # CodeAction('sql', 'SELECT 1')

Round trips hold both ways (property-tested): ``parse(render(a)) == a`` for every valid
action, and ``render(parse(t))`` parses back to the same action for any text ``t`` that parses.
"""

from lemur_agents.actions.alfworld import ALFWORLD_SCHEMA
from lemur_agents.actions.fenced import CodeAction, FencedCodeMapper, normalize_language
from lemur_agents.actions.python_call import PythonCallMapper
from lemur_agents.actions.schema import Action, ActionSchema, ActionSpec, ArgValue, Param
from lemur_agents.actions.symbolic import SymbolicMapper
from lemur_agents.actions.tags import (
    MINT_FORMAT_HINT,
    MintAction,
    MintParseError,
    MintParseMode,
    MintTagMapper,
)
from lemur_agents.actions.webarena import WEBARENA_SCHEMA

__all__ = [
    "ALFWORLD_SCHEMA",
    "MINT_FORMAT_HINT",
    "WEBARENA_SCHEMA",
    "Action",
    "ActionSchema",
    "ActionSpec",
    "ArgValue",
    "CodeAction",
    "FencedCodeMapper",
    "MintAction",
    "MintParseError",
    "MintParseMode",
    "MintTagMapper",
    "Param",
    "PythonCallMapper",
    "SymbolicMapper",
    "normalize_language",
]
