"""CLI subcommands; one module each, discovered by ``ldprune_deploy.cli``."""
