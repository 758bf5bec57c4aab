"""Static files: whitenoise's compressed, hashed copies (served with a year's caching) once collectstatic has
written its manifest; before that (the test suite, a checkout run with DEBUG on) the files' own names, rather
than an error for every page that names a static file."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    def stored_name(self, name: str) -> str:
        if not self.hashed_files:  # no manifest: collectstatic has not run here
            return name
        return super().stored_name(name)
