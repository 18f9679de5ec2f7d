"""Where the project's shipped data lives (the clone is installed editable, so data/ sits beside the package)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"
TAXONOMY_FILE = DATA_DIR / "taxonomy" / "sichuan-15n.yaml"
STOPWORDS_FILE = DATA_DIR / "dictionaries" / "stopwords.txt"
USER_DICT_FILE = DATA_DIR / "dictionaries" / "domain-terms.txt"
MODELS_DIR = REPO_ROOT / "models"
REPORTS_DIR = REPO_ROOT / "reports"
DEFAULT_DB_URL = f"sqlite:///{DATA_DIR / 'library.sqlite'}"
