"""Where the project's own folders are: the checkout this package sits in (an editable install)."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
ROLES_DIR = PROJECT_DIR / "roles"
PLAYBOOKS_DIR = PROJECT_DIR / "playbooks"
INVENTORIES_DIR = PROJECT_DIR / "inventory"
ARTIFACTS_DIR = PROJECT_DIR / ".artifacts"
JOBS_DIR = PROJECT_DIR / "spark_jobs"
STRATEGY_PLUGINS_DIR = PROJECT_DIR / "plugins" / "strategy"
ANSIBLE_CFG = PROJECT_DIR / "ansible.cfg"
