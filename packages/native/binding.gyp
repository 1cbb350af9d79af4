{
  "targets": [
    {
      "target_name": "ipcx_native",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "cpp/addon.cc",
            "cpp/common.cc",
            "cpp/errno_names.cc",
            "cpp/env.cc",
            "cpp/waiters.cc",
            "cpp/sab.cc",
            "cpp/shm.cc",
            "cpp/futex.cc",
            "cpp/futex_ring.cc",
            "cpp/fd_watcher.cc",
            "cpp/mq.cc",
            "cpp/fd.cc",
            "cpp/socket.cc",
            "cpp/sem.cc",
            "cpp/flock.cc",
            "cpp/signals.cc",
            "cpp/sysv_shm.cc",
            "cpp/sysv_msg.cc",
            "cpp/sysv_sem.cc",
            "cpp/record_lock.cc",
            "cpp/shm_file.cc"
          ],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
          "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
          "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
          "cflags_cc": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
          "libraries": ["-lrt", "-lpthread"],
          "ldflags": ["-Wl,-z,nodelete"]
        }, {
          "type": "none"
        }]
      ]
    }
  ]
}
