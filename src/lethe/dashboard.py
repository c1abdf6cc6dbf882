"""`lethe dashboard`: serve the Streamlit compliance dashboard on the published snapshot."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from lethe.errors import ConfigError
from lethe.settings import DASHBOARD_DIR, PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

DEFAULT_USERS_FILE = PROJECT_ROOT / "config" / "users.yml"


def command(settings: Settings, port: int, headless: bool, users_file: Path | None = None) -> list[str]:
    """The `streamlit run` command line for the dashboard."""
    users = users_file or getattr(settings, "dashboard_users", None) or DEFAULT_USERS_FILE
    if not Path(users).is_file():
        raise ConfigError(f"{users}: dashboard users file not found")
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(DASHBOARD_DIR / "app.py"),
        "--server.port",
        str(port),
        "--server.headless",
        "true" if headless else "false",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        # no developer controls (Deploy, Rerun, Clear cache) for the people who read the dashboard
        "--client.toolbarMode",
        "viewer",
        "--",
        "--users",
        str(users),
    ]


def serve(
    settings: Settings, port: int = 8501, headless: bool = False, users_file: Path | None = None
) -> int:
    """Run the dashboard in the foreground until interrupted; returns Streamlit's exit status."""
    if not 0 < port < 65536:
        raise ConfigError(f"--port: {port} is not a TCP port")
    argv = command(settings, port, headless, users_file)
    # The app reads its settings from the environment, like every lethe process.
    env = {**os.environ, "LETHE_HOME": str(settings.home), "LETHE_TENANTS": str(settings.tenants_file)}
    if settings.secret_key_env:
        env["LETHE_SECRET_KEY"] = settings.secret_key_env
    if not settings.snapshot.exists():
        log.warning(
            "no snapshot at %s yet: the dashboard will say so until `lethe publish` runs", settings.snapshot
        )
    print(f"Lethe dashboard: http://localhost:{port}", flush=True)
    try:
        return subprocess.call(argv, env=env, cwd=str(PROJECT_ROOT))  # noqa: S603 (fixed argv)
    except KeyboardInterrupt:
        return 0
