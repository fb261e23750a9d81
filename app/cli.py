"""Flask CLI commands: deploy, seed-demo, scheduler, serve (see README)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
from flask import Flask, current_app

from workflows.errors import SpecValidationError


def register_cli(app: Flask) -> None:
    from app.sla.cli import register_sla_cli
    from app.sla.scheduler import BATCH

    register_sla_cli(app)  # flask calendar ..., flask timers ...

    @app.cli.command("deploy")
    @click.argument("path", required=False)
    def deploy_command(path: str | None) -> None:
        """Deploy every process in PATH (default: bpmn/) as a new version if it changed."""
        from app.processes.service import deploy_directory

        folder = Path(path or current_app.config["BPMN_DIR"])
        try:
            results = deploy_directory(folder, actor="cli")
        except SpecValidationError as exc:
            for error in exc.errors:
                click.echo(
                    f"error: {error.file or ''} {error.element or ''}: {error.message}", err=True
                )
            raise SystemExit(1) from exc
        for version, created in results:
            state = "deployed" if created else "unchanged"
            click.echo(f"{version.definition.key} v{version.version} {state}")

    @app.cli.command("seed-demo")
    def seed_demo_command() -> None:
        """Create the demo street, its units and one user per role (demo mode only)."""
        from app.orgs.demo import seed_demo

        if not current_app.config.get("DEMO"):
            raise click.ClickException(
                "seed-demo runs only in demo mode (GRIDCASE_CONFIG=development)"
            )
        created = seed_demo()
        click.echo("demo data created" if created else "demo data already present")

    @app.cli.command("scheduler")
    @click.option("--once", is_flag=True, help="Fire what is due now, then exit.")
    @click.option("--lease", default=60.0, show_default=True, help="Claim lease, seconds.")
    @click.option("--batch", default=BATCH, show_default=True, help="Timers claimed at once.")
    @click.option("--poll", default=0.5, show_default=True, help="Longest sleep, seconds.")
    @click.option("--no-periodic", is_flag=True, help="Only timers: no overdue/digest jobs.")
    def scheduler_command(
        once: bool, lease: float, batch: int, poll: float, no_periodic: bool
    ) -> None:
        """Run the SLA scheduler: claims due timers and fires them through the unit of work,
        and runs the periodic SLA jobs (overdue flags, daily digest, calendar coverage)."""
        import logging
        from datetime import timedelta

        from app.sla.scheduler import fire_batch, run_forever

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not a line per tick
        claim_lease = timedelta(seconds=lease)
        if once:
            total = 0
            while True:
                claimed, fired = fire_batch(
                    owner=f"cli-once:{os.getpid()}", limit=batch, lease=claim_lease
                )
                total += fired
                if claimed < batch:
                    break
            click.echo(f"fired {total} timers")
            return
        run_forever(
            lease=claim_lease,
            batch=batch,
            poll=timedelta(seconds=poll),
            periodic=not no_periodic,
        )

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    def serve_command(host: str, port: int) -> None:
        """Run the web server (gunicorn) and one scheduler process together."""
        env = dict(os.environ)
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "scheduler"], env=env
        )
        try:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--bind",
                    f"{host}:{port}",
                    "app.wsgi:app",
                ],
                env=env,
                check=False,
            )
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=10)
