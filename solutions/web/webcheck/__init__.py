"""The web solution's checks: HTML validity, links and assets, accessibility, runtime health, screenshots."""
