"""Run the Kore.ai simulator as a standalone server: ``manage.py kore_simulator --port 8765``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from cases.kore.simulator import Simulator, load_apps_file
from cases.kore.simulator.apps_file import load_templates_file
from cases.kore.simulator.server import SimulatorServer


class Command(BaseCommand):
    help = (
        "Serve the Kore.ai simulator (the six case and task endpoints) with its /_simulator/ control "
        "plane, and optionally its Kore agent working the cases."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--app",
            action="append",
            default=[],
            metavar="CLIENT_ID:SECRET[:st-a,st-b]",
            help="A JWT app the simulator accepts (repeatable). Without stream ids it may use any stream.",
        )
        parser.add_argument("--apps-file", help="A JSON file of apps, as written by prepare_demo.")
        parser.add_argument("--latency", type=float, default=0.0, help="Seconds added to every answer.")
        parser.add_argument(
            "--rate-limit", type=int, default=0, help="Requests per window per account (0: off)."
        )
        parser.add_argument("--rate-window", type=float, default=60.0)
        parser.add_argument(
            "--agent-seconds",
            type=float,
            default=0.0,
            help="Seconds between the Kore agent's rounds of work on the cases (0: off).",
        )
        parser.add_argument("--seed", type=int, help="Seed the Kore agent's choices, for repeatable runs.")

    def handle(self, *args, **options):
        simulator = Simulator(control=True, seed=options["seed"])
        for spec in options["app"]:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or not all(parts[:2]):
                raise CommandError(f"--app takes CLIENT_ID:SECRET[:st-a,st-b], not {spec!r}")
            streams = parts[2].split(",") if len(parts) == 3 and parts[2] else None
            simulator.register_app(parts[0], parts[1], streams)
        if options["apps_file"]:
            for app in load_apps_file(options["apps_file"]):
                simulator.register_app(app["client_id"], app["secret"], app.get("stream_ids"))
            for template in load_templates_file(options["apps_file"]):
                simulator.register_template(template["stream_id"], template["template_id"], template["name"])
        simulator.set_latency(options["latency"])
        if options["rate_limit"]:
            simulator.set_rate_limit(options["rate_limit"], options["rate_window"])
        server = SimulatorServer(simulator, options["host"], options["port"])
        self.stdout.write(f"Kore.ai simulator on {server.url} (control plane at {server.url}/_simulator/)")
        if options["agent_seconds"] > 0:
            simulator.start_agent(options["agent_seconds"])
            self.stdout.write(f"Kore agent at work every {options['agent_seconds']:g} s")
        self.stdout.write(f"Apps: {', '.join(simulator.app_ids()) or 'none yet (POST /_simulator/apps)'}")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop_agent()
            server.httpd.server_close()
