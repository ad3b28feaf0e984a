"""A stand-in for sky_rs's API-server plugin, until the real one lands.

It does what the plugin is for in the simplest way there is: in every
context (MAIN, UVICORN, EXECUTOR, CONTROLLER) ``install()`` calls
``sky_fallback.patch_skypilot()``, which is idempotent and leaves any
function it cannot verify as SkyPilot's own. The end-to-end tests
(test_server.py) name it through :data:`PLUGIN_CLASS`; the real plugin
replaces it there.
"""

from sky.server import plugins

PLUGIN_CLASS = 'tests_server.standin_plugin.StandinPlugin'


class StandinPlugin(plugins.BasePlugin):
    """``patch_skypilot()`` in every process the server loads plugins in."""

    @property
    def name(self) -> str:
        return 'sky_rs (stand-in)'

    def install(self, extension_context: plugins.ExtensionContext) -> None:
        del extension_context
        import sky_fallback  # pylint: disable=import-outside-toplevel
        sky_fallback.patch_skypilot()
