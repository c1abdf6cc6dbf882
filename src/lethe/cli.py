"""The `lethe` command line (CONTRACT section 4): parses flags, calls one function, prints its result."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lethe.errors import LetheError
from lethe.settings import Settings, command_settings

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line and exit status 2, like every other user error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.split(" ", 1)[1] + " " if " " in self.prog else ""  # 'lethe dsar export' -> 'dsar export '
        self.exit(2, f"lethe: {message} (see 'lethe {command}--help')\n")


_NO_POLICY_COMMANDS = {"generate", "audit", "dashboard"}


def _settings(args: argparse.Namespace) -> Settings:
    return command_settings(getattr(args, "as_of", None))


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, sort_keys=False, default=str))


def cmd_generate(args: argparse.Namespace) -> int:
    from lethe.synth import generate

    # the history ends at --as-of, else at LETHE_AS_OF (as every command judges at it), else at a fixed instant
    env_as_of = os.environ.get("LETHE_AS_OF") or None
    summary = generate(
        out=Path(args.out),
        tenants=args.tenants,
        subjects=args.subjects,
        days=args.days,
        seed=args.seed,
        end=args.as_of or env_as_of,
        end_source="--as-of" if args.as_of else "LETHE_AS_OF",
    )
    print(summary.render())
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from lethe.ingest import run_ingest

    settings = _settings(args)
    landing = Path(args.landing).resolve() if args.landing else settings.landing
    summary = run_ingest(settings, landing=landing)
    if args.json:
        _print_json(summary.to_dict())
    else:
        print(summary.render())
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.select:
        from lethe.build import run_build

        result = run_build(settings, select=args.select, full_refresh=args.full_refresh)
        nodes = (result.models_passed + result.models_failed + result.models_skipped + result.tests_passed
                 + result.tests_failed + result.tests_skipped)
        if nodes == 0:  # dbt only warns; a typo must not look like a successful build
            raise LetheError(f"--select {args.select!r} matches no model or test of the dbt project")
        print(result.render())
    else:
        from lethe.pipeline import build_all

        print(build_all(settings, full_refresh=args.full_refresh).render())
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from lethe.purge import run_purge

    result = run_purge(_settings(args), dry_run=args.dry_run)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.render())
    return 0


def _identity(args: argparse.Namespace):
    from lethe.dsr.identity import SubjectRef

    return SubjectRef(contact_id=args.contact_id, email=args.email, phone=args.phone)


def cmd_dsar_export(args: argparse.Namespace) -> int:
    from lethe.dsr import export_subject

    path = export_subject(_settings(args), tenant=args.tenant, ref=_identity(args), fmt=args.format, out=Path(args.out))
    print(f"wrote {path}")
    return 0


def cmd_dsar_erase(args: argparse.Namespace) -> int:
    from lethe.dsr import erase_subject

    result = erase_subject(_settings(args), tenant=args.tenant, ref=_identity(args))
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.render())
    return 0


def cmd_dsar_record(args: argparse.Namespace) -> int:
    from lethe.dsr import record_request

    recorded = record_request(_settings(args), tenant=args.tenant, ref=_identity(args), command=args.dsar_command,
                              details=getattr(args, "details", None))
    print(recorded.render())
    return 0


def cmd_audience(args: argparse.Namespace) -> int:
    from lethe.audience import export_audience

    count = export_audience(
        _settings(args),
        tenant=args.tenant,
        purpose=args.purpose,
        channel=args.channel,
        out=Path(args.out) if args.out else None,
    )
    if args.out:
        print(f"wrote {count} subjects to {args.out}", file=sys.stderr)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from lethe.pipeline import run_all

    run_all(_settings(args), on_step=lambda report: print(report, flush=True))
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from lethe.publish import publish

    path = publish(_settings(args))
    print(f"published {path}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from lethe.status import compute_status

    kpis = compute_status(_settings(args))
    if args.json:
        _print_json(kpis)
    else:
        width = max(map(len, kpis), default=0)
        for name, value in kpis.items():
            shown = int(value) if isinstance(value, float) and value.is_integer() else value
            print(f"{name:<{width}}  {shown}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from lethe.audit import verify

    print(verify(_settings(args)).render())
    return 0


def cmd_tenant_offboard(args: argparse.Namespace) -> int:
    from lethe.offboard import offboard

    result = offboard(_settings(args), args.tenant, dry_run=args.dry_run)
    if args.json:
        _print_json(result.to_dict())
    else:
        print(result.render())
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from lethe.dashboard import serve

    return serve(_settings(args), port=args.port, headless=args.headless)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lethe", description="Keep a contact centre's personal data lawful under the GDPR.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    # also before the command (`lethe --as-of T status`); the command's own --as-of wins
    parser.add_argument("--as-of", dest="global_as_of", metavar="ISO8601", help=argparse.SUPPRESS)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--as-of", metavar="ISO8601", help="judge retention, consent and SLAs at this instant")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("generate", cmd_generate, "write a realistic landing zone and a matching tenant policy file")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--tenants", type=int, default=3, metavar="N")
    p.add_argument("--subjects", type=int, default=2000, metavar="N")
    p.add_argument("--days", type=int, default=730, metavar="N")
    p.add_argument("--seed", type=int, default=42, metavar="N")

    p = add("ingest", cmd_ingest, "load every new landing file, validated against its data contract")
    p.add_argument("--landing", metavar="DIR")
    p.add_argument("--json", action="store_true")

    p = add("build", cmd_build, "build the dbt project (all flags and marts)")
    p.add_argument("--select", metavar="SELECTOR", help="dbt selector (default: everything)")
    p.add_argument("--full-refresh", action="store_true",
                   help="recompute the incremental models from the raw layer instead of folding in what changed")

    p = add("purge", cmd_purge, "plan and execute erasure of everything due")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--json", action="store_true")

    dsar = sub.add_parser("dsar", help="data-subject access, erasure, restriction, objection and rectification")
    dsar_sub = dsar.add_subparsers(dest="dsar_command", required=True, parser_class=_Parser)

    def add_identity(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tenant", required=True, metavar="T")
        who = p.add_mutually_exclusive_group(required=True)
        who.add_argument("--contact-id", metavar="ID")
        who.add_argument("--email", metavar="E")
        who.add_argument("--phone", metavar="P")

    p = dsar_sub.add_parser("export", parents=[common], help="everything held on one data subject")
    add_identity(p)
    p.add_argument("--format", required=True, choices=["json", "csv", "xlsx", "pdf"])
    p.add_argument("--out", required=True, metavar="PATH")
    p.set_defaults(func=cmd_dsar_export)
    p = dsar_sub.add_parser("erase", parents=[common], help="erase one data subject now")
    add_identity(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dsar_erase)

    for name, help_ in (
        ("restrict", "restrict processing of one data subject (excluded from audiences and scoring from the next build)"),
        ("object", "record one data subject's objection to marketing and profiling (honoured from the next build)"),
        ("rectify", "record a rectification request, tracked until the corrected CRM record arrives"),
    ):
        p = dsar_sub.add_parser(name, parents=[common], help=help_, description=help_)
        add_identity(p)
        if name == "rectify":
            p.add_argument("--details", metavar="TEXT", help="what is to be corrected")
        p.set_defaults(func=cmd_dsar_record)

    p = add("audience", cmd_audience, "the consent-eligible audience as CSV")
    p.add_argument("--tenant", required=True, metavar="T")
    p.add_argument("--purpose", required=True, metavar="NAME")
    p.add_argument("--channel", required=True, choices=["email", "sms", "phone"])
    p.add_argument("--out", metavar="FILE")

    add("run", cmd_run, "ingest, build, purge and publish, as the Airflow DAGs do")
    add("publish", cmd_publish, "publish the read-only serving snapshot")

    p = add("status", cmd_status, "the compliance KPIs the dashboard shows")
    p.add_argument("--json", action="store_true")

    audit = sub.add_parser("audit", help="the purge audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    p = audit_sub.add_parser("verify", parents=[common], help="check the audit log: hash chain, keyed MACs, head, warehouse purge runs")
    p.set_defaults(func=cmd_audit_verify)

    tenant = sub.add_parser("tenant", help="a tenant (client company) as a whole")
    tenant_sub = tenant.add_subparsers(dest="tenant_command", required=True, parser_class=_Parser)
    help_ = ("delete everything held for a tenant whose contract has ended (take it out of the tenant policy "
             "file first)")
    p = tenant_sub.add_parser("offboard", parents=[common], help=help_, description=help_)
    p.add_argument("--tenant", required=True, metavar="T")
    p.add_argument("--dry-run", action="store_true", help="count what would be deleted; change nothing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tenant_offboard)

    p = add("dashboard", cmd_dashboard, "start the Streamlit dashboard on the published snapshot")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--headless", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "as_of", None) is None:
        args.as_of = args.global_as_of
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command not in _NO_POLICY_COMMANDS:
            # Refuse an invalid tenant policy file before anything runs (CONTRACT section 3).
            from lethe.policy import load_policy

            load_policy(_settings(args).tenants_file)
        return args.func(args)
    except LetheError as exc:
        print(f"lethe: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lethe: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `lethe purge --json | head`: the reader went away; not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except OSError as exc:
        return _os_error(exc)
    except Exception as exc:
        from lethe.warehouse import busy_error

        busy = busy_error(exc)  # a DuckDB file another process holds (opened outside lethe.warehouse.connect)
        if busy is None:
            raise
        print(f"lethe: {busy}", file=sys.stderr)
        return 1


def _os_error(exc: OSError) -> int:
    """A file or folder the user named (--out, --landing, LETHE_HOME) cannot be read or written: one line naming
    it (the traceback is logged with -v)."""
    log.debug("file system error", exc_info=True)
    where = f"{exc.filename}: " if exc.filename else ""
    print(f"lethe: {where}{exc.strerror or exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
