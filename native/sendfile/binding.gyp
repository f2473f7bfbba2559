# strata_sendfile: sendfile(2) + a one-shot writable wait for Strata's fetch path (see native/README.md).
# Built by scripts/build-native.mjs (npm's install script) with node-gyp; plain C on N-API.
{
  "targets": [
    {
      "target_name": "strata_sendfile",
      "sources": ["sendfile.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE", "_FILE_OFFSET_BITS=64"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      # Node dlclose()s a worker thread's addons at its teardown, before the worker's loop runs the
      # last uv_close callbacks; those callbacks are in this library, so it must stay mapped.
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
