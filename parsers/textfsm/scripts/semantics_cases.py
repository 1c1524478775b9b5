#!/usr/bin/env python3
"""Writes src/engine/cases.rs: TextFSM semantics cases with Python textfsm's output.

Each case is a template and an input text; the expected result is what Python
textfsm 2.x gives (`TextFSM(template).ParseText(text)`, with its header), or the
exception it raises. The Rust unit tests (src/engine/tests.rs) run the same
cases through sotp-textfsm and compare. Run in a venv with `textfsm>=2,<3`:

    python scripts/semantics_cases.py > src/engine/cases.rs
"""

import io
import json
import sys
from importlib import metadata

import textfsm

# (name, template, text, expected Rust error variant or None)
CASES = [
    ("filldown_persists_until_clearall",
     "Value Filldown CHASSIS (\\S+)\nValue PORT (\\S+)\n\nStart\n  ^chassis ${CHASSIS}\n  ^port ${PORT} -> Record\n  ^reset -> Clearall\n",
     "chassis c1\nport p1\nport p2\nreset\nport p3\n", None),
    ("filldown_only_record_is_emitted_at_eof",
     "Value Filldown A (\\S+)\nValue B (\\S+)\n\nStart\n  ^a ${A}\n  ^b ${B} -> Record\n",
     "a 1\nb 2\n", None),
    ("required_skips_records_and_clears",
     "Value Required A (\\S+)\nValue B (\\S+)\n\nStart\n  ^a ${A}\n  ^b ${B} -> Record\n",
     "b 1\na 2\nb 3\nb 4\n", None),
    ("filldown_required_together",
     "Value Filldown,Required A (\\S+)\nValue B (\\S+)\n\nStart\n  ^a ${A}\n  ^b ${B} -> Record\n",
     "b 0\na 1\nb 2\nb 3\n", None),
    ("assigning_none_overrides_filldown",
     "Value Filldown A (\\S+)\nValue B (\\S+)\n\nStart\n  ^x(?: ${A})? ${B} -> Record\n",
     "x 1 a\nx b\nx 2 c\n", None),
    ("key_has_no_effect_on_parsing",
     "Value Key A (\\S+)\nValue B (\\S+)\n\nStart\n  ^${A} ${B} -> Record\n",
     "k v\nk2 v2\n", None),
    ("list_collects_and_clears_after_record",
     "Value Required NAME (\\S+)\nValue List ADDR (\\S+)\n\nStart\n  ^iface ${NAME} -> Continue.Record\n  ^\\s+ip ${ADDR}\n",
     "iface a\n ip 1\n ip 2\niface b\niface c\n ip 3\n", None),
    ("list_filldown_keeps_accumulating",
     "Value List,Filldown L (\\S+)\nValue B (\\S+)\n\nStart\n  ^l ${L}\n  ^b ${B} -> Record\n",
     "l 1\nb x\nl 2\nb y\n", None),
    ("list_item_none_when_group_missing",
     "Value List L (\\d+)\nValue B (\\S+)\n\nStart\n  ^x(?:=${L})? ${B} -> Record\n",
     "x=1 a\nx b\n", None),
    ("list_nested_named_groups_become_dicts",
     "Value List PEOPLE ((?P<name>\\w+):(?P<age>\\d+)(?::(?P<tag>\\w+))?)\n\nStart\n  ^p ${PEOPLE}\n",
     "p bob:32\np ann:41:x\n", None),
    ("list_nested_unnamed_groups_stay_strings",
     "Value List MAC ([0-9a-f]{2}(:[0-9a-f]{2}){2})\n\nStart\n  ^mac ${MAC}\n",
     "mac aa:bb:cc\nmac 01:02:03\n", None),
    ("required_before_list_checks_last_capture",
     "Value Required,List L (\\S*)\nValue B (\\S+)\n\nStart\n  ^l=${L}\n  ^b ${B} -> Record\n",
     "l=x\nl=\nb 1\nl=y\nb 2\n", None),
    ("list_before_required_checks_the_list",
     "Value List,Required L (\\S*)\nValue B (\\S+)\n\nStart\n  ^l=${L}\n  ^b ${B} -> Record\n",
     "l=x\nl=\nb 1\nl=y\nb 2\nb 3\n", None),
    ("fillup_copies_upwards_until_set",
     "Value Fillup F (\\S+)\nValue B (\\S+)\n\nStart\n  ^b ${B} -> Record\n  ^f ${F} -> Record\n",
     "b 1\nb 2\nf x\nb 3\nf y\n", None),
    ("empty_strings_make_a_record",
     "Value A (\\S*)\nValue B (\\S*)\n\nStart\n  ^a=${A},b=${B} -> Record\n",
     "a=,b=\na=1,b=\n", None),
    ("all_none_record_is_dropped",
     "Value A (\\S+)\n\nStart\n  ^x -> Record\n  ^a ${A} -> Record\n",
     "x\na 1\nx\n", None),
    ("continue_tries_the_next_rules",
     "Value A (\\S+)\nValue B (\\S+)\nValue C (\\S+)\n\nStart\n  ^${A} \\S+ \\S+ -> Continue\n  ^\\S+ ${B} \\S+ -> Continue\n  ^\\S+ \\S+ ${C} -> Record\n",
     "1 2 3\n4 5 6\n", None),
    ("continue_record_then_next_rule",
     "Value A (\\S+)\nValue B (\\S+)\n\nStart\n  ^${A}$$ -> Continue.Record\n  ^${B}$$ -> Record\n",
     "x\ny\n", None),
    ("first_matching_rule_wins",
     "Value A (\\S+)\nValue B (\\S+)\n\nStart\n  ^a ${A} -> Record\n  ^a ${B} -> Record\n",
     "a 1\n", None),
    ("clear_keeps_filldown_clearall_does_not",
     "Value Filldown F (\\S+)\nValue A (\\S+)\n\nStart\n  ^f ${F}\n  ^a ${A}\n  ^clear -> Clear\n  ^all -> Clearall\n  ^rec -> Record\n",
     "f 1\na 2\nclear\nrec\na 3\nall\na 4\nrec\n", None),
    ("norecord_is_the_default",
     "Value A (\\S+)\n\nStart\n  ^a ${A} -> NoRecord\n  ^b ${A} -> Next.NoRecord\n",
     "a 1\nb 2\n", None),
    ("state_transitions",
     "Value A (\\S+)\nValue B (\\S+)\n\nStart\n  ^begin -> Body\n\nBody\n  ^a ${A}\n  ^b ${B} -> Record Start\n",
     "a 0\nbegin\na 1\nb 2\na 3\nbegin\nb 4\n", None),
    ("record_with_new_state",
     "Value A (\\S+)\n\nStart\n  ^a ${A} -> Record Other\n\nOther\n  ^a ${A} -> Next.Record Start\n",
     "a 1\na 2\na 3\n", None),
    ("end_state_stops_without_eof_record",
     "Value A (\\S+)\n\nStart\n  ^a ${A}\n  ^stop -> End\n",
     "a 1\nstop\na 2\n", None),
    ("explicit_eof_state_suppresses_eof_record",
     "Value A (\\S+)\n\nStart\n  ^a ${A}\n\nEOF\n",
     "a 1\n", None),
    ("transition_to_eof_keeps_implicit_record",
     "Value A (\\S+)\n\nStart\n  ^a ${A}\n  ^stop -> EOF\n",
     "a 1\nstop\na 2\n", None),
    ("transition_to_declared_eof",
     "Value A (\\S+)\n\nStart\n  ^a ${A} -> Record\n  ^stop -> EOF\n\nEOF\n",
     "a 1\nstop\na 2\n", None),
    ("error_action_with_message",
     "Value A (\\S+)\n\nStart\n  ^a ${A} -> Record\n  ^bad -> Error \"bad line\"\n",
     "a 1\nbad\n", "ErrorAction"),
    ("error_action_without_message",
     "Value A (\\S+)\n\nStart\n  ^bad -> Error\n",
     "bad\n", "ErrorAction"),
    ("dollar_dollar_is_end_anchor",
     "Value A (\\S+)\n\nStart\n  ^a ${A}$$ -> Record\n",
     "a 1\na 2 3\n", None),
    ("unbraced_substitution",
     "Value A (\\d+)\n\nStart\n  ^a $A -> Record\n",
     "a 12\n", None),
    ("match_is_anchored_at_start_only",
     "Value A (\\d+)\n\nStart\n  ^a ${A} -> Record\n  ^b ${A} -> Record\n",
     "a 1 tail\nxb 2\nb 3\n", None),
    ("space_before_arrow_is_part_of_the_regex",
     "Value A (\\S+)\n\nStart\n  ^a ${A}  -> Record\n",
     "a 1\na 2 \n", None),
    ("comments_and_blank_lines",
     "# leading comment\nValue A (\\S+)\n  # indented comment\nValue B (\\S+)\n\n# between\n\nStart\n  # rule comment\n  ^a ${A}\n\t^b ${B} -> Record\n\n# trailing\n",
     "a 1\nb 2\n", None),
    ("python_splitlines_line_breaks",
     "Value List L (.*)\n\nStart\n  ^${L}\n",
     "a\r\nb\rc\x0bd\x0ce\x1cf\x85g\u2028h\n\ni", None),
    ("empty_text_gives_no_rows",
     "Value Filldown A (\\S+)\n\nStart\n  ^a ${A}\n",
     "", None),
    ("line_ops_with_tab_indent_and_one_space",
     "Value A (\\S+)\n\nStart\n ^a ${A} -> Record\n\t^b ${A} -> Record\n",
     "a 1\nb 2\n", None),
    ("template_without_values_skips_substitution",
     "\nStart\n  ^a$$ -> Next\n",
     "a\n", None),
    ("option_base_is_accepted",
     "Value OptionBase A (\\S+)\n\nStart\n  ^${A} -> Record\n",
     "x\n", None),
    # Template errors.
    ("err_no_values", "Start\n  ^a\n", "", "NoValues"),
    ("err_expected_blank_line", "Value A (x)\nStart\n", "", "ExpectedBlankLine"),
    ("err_value_tokens", "Value A\n\nStart\n", "", "ValueTokens"),
    ("err_unknown_option", "Value Bogus A (x)\n\nStart\n", "", "UnknownOption"),
    ("err_duplicate_option", "Value Key,Key A (x)\n\nStart\n", "", "DuplicateOption"),
    ("err_value_parens", "Value A x)\n\nStart\n", "", "UnknownOption"),
    ("err_value_parens_escaped", "Value Key A (x\\)\n\nStart\n", "", "ValueParens"),
    ("err_value_regex", "Value A ((x)\n\nStart\n", "", "ValueRegex"),
    ("err_value_name_too_long", "Value " + "N" * 49 + " (x)\n\nStart\n", "", "ValueName"),
    ("err_duplicate_value", "Value A (x)\nValue A (y)\n\nStart\n", "", "DuplicateValue"),
    ("err_missing_start", "Value A (x)\n\nBegin\n  ^a\n", "", "MissingStart"),
    ("err_invalid_state_name", "Value A (x)\n\nStart here\n", "", "StateName"),
    ("err_reserved_state_name", "Value A (x)\n\nStart\n  ^a\n\nRecord\n", "", "StateName"),
    ("err_indented_state_name", "Value A (x)\n\n Start\n", "", "StateName"),
    ("err_duplicate_state", "Value A (x)\n\nStart\n  ^a\n\nStart\n", "", "DuplicateState"),
    ("err_rule_indent", "Value A (x)\n\nStart\n^a\n", "", "RuleIndent"),
    ("err_rule_three_spaces", "Value A (x)\n\nStart\n   ^a\n", "", "RuleIndent"),
    ("err_substitution_unknown", "Value A (x)\n\nStart\n  ^${B}\n", "", "Substitution"),
    ("err_substitution_bare_dollar", "Value A (x)\n\nStart\n  ^a$\n", "", "Substitution"),
    ("err_rule_regex", "Value A (x)\n\nStart\n  ^a(\n", "", "RuleRegex"),
    ("err_bad_action", "Value A (x)\n\nStart\n  ^a -> Next.Bogus\n", "", "BadAction"),
    ("err_record_read_as_state", "Value A (x)\n\nStart\n  ^a -> Next Record\n", "", "UnknownState"),
    ("err_continue_with_state", "Value A (x)\n\nStart\n  ^a -> Continue Start\n", "", "ContinueWithState"),
    ("err_quoted_state", "Value A (x)\n\nStart\n  ^a -> Next \"x\"\n", "", "StateNameChars"),
    ("err_unknown_state", "Value A (x)\n\nStart\n  ^a -> Nowhere\n", "", "UnknownState"),
    ("err_non_empty_end", "Value A (x)\n\nStart\n  ^a\n\nEnd\n  ^b\n", "", "NonEmptyReserved"),
    ("err_non_empty_eof", "Value A (x)\n\nStart\n  ^a\n\nEOF\n  ^b\n", "", "NonEmptyReserved"),
    ("err_duplicate_group", "Value A (x)\n\nStart\n  ^${A} ${A}\n", "", "RuleRegex"),
]


def conv(v):
    if isinstance(v, list):
        return [conv(x) for x in v]
    if isinstance(v, dict):
        return {"dict": [[k, x] for k, x in v.items()]}
    return v


def rust_str(s):
    out = []
    for c in s:
        if c == '"':
            out.append('\\"')
        elif c == "\\":
            out.append("\\\\")
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif not c.isprintable():
            out.append("\\u{%x}" % ord(c))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def main():
    w = sys.stdout.write
    w("//! Generated by scripts/semantics_cases.py from Python textfsm "
      f"{metadata.version('textfsm')}: do not edit by hand.\n\n")
    w("use super::tests::{Case, Expect};\n\n")
    w("pub(super) const CASES: &[Case] = &[\n")
    for name, template, text, error in CASES:
        try:
            fsm = textfsm.TextFSM(io.StringIO(template))
        except textfsm.TextFSMTemplateError as exc:
            assert error, f"{name}: Python raised {exc}"
            expect = f"Expect::TemplateError({rust_str(error)})"
            comment = f"Python: TextFSMTemplateError: {exc}"
        else:
            try:
                rows = fsm.ParseText(text)
            except textfsm.TextFSMError as exc:
                assert error == "ErrorAction", f"{name}: Python raised {exc}"
                expect = f"Expect::ParseError({rust_str(str(exc))})"
                comment = None
            else:
                assert error is None, f"{name}: Python did not raise"
                doc = {"header": fsm.header, "rows": conv(rows)}
                expect = f"Expect::Rows({rust_str(json.dumps(doc))})"
                comment = None
        if comment:
            w(f"    // {comment}\n")
        w(f"    Case {{\n        name: {rust_str(name)},\n        template: {rust_str(template)},\n")
        w(f"        text: {rust_str(text)},\n        expect: {expect},\n    }},\n")
    w("];\n")


if __name__ == "__main__":
    main()
