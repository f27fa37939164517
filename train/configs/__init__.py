"""TOML presets: paper.toml (the paper's recipe), synthetic.toml (the default weights), tiny.toml (tests)."""
