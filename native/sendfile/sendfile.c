/*
 * strata_sendfile: sendfile(2) for Strata's fetch path, and a one-shot "socket writable" wait.
 *
 *   sendfile(outFd, inFd, position, length) -> bytes sent (0 at end of file) | -1 (would block)
 *   whenWritable(socketFd, callback) -> { cancel() }
 *
 * Written against N-API (node_api.h) and libuv's uv_poll_t (uv.h), both part of Node's headers.
 * Linux only: the build script skips other platforms and the TypeScript wrapper falls back.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64 /* off_t is 64-bit, so sendfile() is sendfile64() */
#endif

#ifndef __linux__
#error "strata_sendfile is Linux only"
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/types.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

_Static_assert(sizeof(off_t) == 8, "off_t must be 64-bit");

/* Linux moves at most this many bytes per call anyway (MAX_RW_COUNT); asking for more is pointless. */
#define MAX_CHUNK ((size_t)0x7ffff000)
/* Largest integer a JS number holds exactly. */
#define MAX_SAFE_INTEGER 9007199254740991.0

/* --------------------------------------------------------------------------------------------- */
/* Errors                                                                                         */

/* Returns NULL so callers can `return throw_...(...)`. */
static napi_value throw_with_code(napi_env env, const char* code, const char* message) {
  napi_throw_error(env, code, message);
  return NULL;
}

static napi_value throw_type(napi_env env, const char* message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

static napi_value throw_range(napi_env env, const char* message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
  return NULL;
}

/* The errno's symbolic name ("EPIPE"); libuv's error codes are the negated errno values on Unix. */
static void errno_name(int err, char* buf, size_t len) {
  uv_err_name_r(-err, buf, len);
  if (strncmp(buf, "Unknown", 7) == 0) snprintf(buf, len, "ERRNO_%d", err);
}

/* Builds an Error like Node's system errors: message "<call> <CODE>: <text>", .code, .errno (negative,
 * as in Node), .syscall. */
static napi_value errno_error(napi_env env, const char* syscall, const char* detail, int err) {
  char code[64];
  char text[128];
  char message[320];
  napi_value code_value, message_value, error, number, name;

  errno_name(err, code, sizeof(code));
  uv_strerror_r(-err, text, sizeof(text));
  snprintf(message, sizeof(message), "%s%s %s: %s", syscall, detail, code, text);

  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_value) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &message_value) != napi_ok) return NULL;
  if (napi_create_error(env, code_value, message_value, &error) != napi_ok) return NULL;
  if (napi_create_int32(env, -err, &number) == napi_ok) napi_set_named_property(env, error, "errno", number);
  if (napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &name) == napi_ok) {
    napi_set_named_property(env, error, "syscall", name);
  }
  return error;
}

static napi_value throw_errno(napi_env env, const char* syscall, const char* detail, int err) {
  napi_value error = errno_error(env, syscall, detail, err);
  if (error != NULL) {
    napi_throw(env, error);
  } else {
    napi_throw_error(env, "ERR_SENDFILE_INTERNAL", "strata_sendfile: could not build an Error");
  }
  return NULL;
}

/* --------------------------------------------------------------------------------------------- */
/* Argument helpers                                                                               */

/* The number `value` holds; throws a TypeError naming `what` and returns 0 when it is not a number. */
static int get_number(napi_env env, napi_value value, const char* what, double* out) {
  napi_valuetype type;
  char message[128];
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
    snprintf(message, sizeof(message), "%s must be a number", what);
    throw_type(env, message);
    return 0;
  }
  napi_get_value_double(env, value, out);
  return 1;
}

static int get_fd(napi_env env, napi_value value, const char* what, int* out) {
  double d;
  char message[128];
  if (!get_number(env, value, what, &d)) return 0;
  if (!(d >= 0 && d <= 2147483647.0) || d != (double)(int32_t)d) {
    snprintf(message, sizeof(message), "%s must be a non-negative integer file descriptor", what);
    throw_range(env, message);
    return 0;
  }
  *out = (int)d;
  return 1;
}

static int get_size(napi_env env, napi_value value, const char* what, int64_t* out) {
  double d;
  char message[128];
  if (!get_number(env, value, what, &d)) return 0;
  if (!(d >= 0 && d <= MAX_SAFE_INTEGER) || d != (double)(int64_t)d) {
    snprintf(message, sizeof(message), "%s must be an integer from 0 to 2^53-1", what);
    throw_range(env, message);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

/* --------------------------------------------------------------------------------------------- */
/* sendfile(outFd, inFd, position, length)                                                        */

static napi_value js_sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int out_fd, in_fd;
  int64_t position, length;
  off_t offset;
  size_t count;
  ssize_t sent;
  napi_value result;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 4) return throw_type(env, "sendfile(outFd, inFd, position, length) takes 4 arguments");
  if (!get_fd(env, argv[0], "outFd", &out_fd)) return NULL;
  if (!get_fd(env, argv[1], "inFd", &in_fd)) return NULL;
  if (!get_size(env, argv[2], "position", &position)) return NULL;
  if (!get_size(env, argv[3], "length", &length)) return NULL;

  offset = (off_t)position;
  count = (uint64_t)length > MAX_CHUNK ? MAX_CHUNK : (size_t)length;
  /* The socket is O_NONBLOCK (Node's sockets are), so this never waits on the peer; it can wait
   * on the disk when the range is not in the page cache. */
  do {
    sent = sendfile(out_fd, in_fd, &offset, count);
  } while (sent < 0 && errno == EINTR);

  if (sent < 0) {
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      napi_create_int32(env, -1, &result);
      return result;
    }
    char detail[64];
    snprintf(detail, sizeof(detail), "(out=%d, in=%d)", out_fd, in_fd);
    return throw_errno(env, "sendfile", detail, err);
  }
  napi_create_double(env, (double)sent, &result);
  return result;
}

/* --------------------------------------------------------------------------------------------- */
/* whenWritable(socketFd, callback)                                                               */

/*
 * One wait. Two owners, and it is freed when both have let go:
 *  - libuv: from uv_poll_init until the poll handle's close callback (after which dup_fd is closed);
 *  - the JS handle object (napi_wrap): until its finalizer runs.
 * The callback reference and the async context live while the wait is PENDING and are released
 * when it fires, is cancelled, or the environment is torn down.
 * Dropping the JS handle does not cancel a pending wait (the callback still runs); only cancel()
 * does. A pending uv_poll_t keeps the event loop alive, like a pending socket write.
 */
typedef enum { WAIT_PENDING, WAIT_DONE } wait_state;

typedef struct {
  uv_poll_t poll;         /* first member: the uv handle's address is the struct's */
  napi_env env;
  int dup_fd;
  wait_state state;
  int poll_open;          /* uv_poll_init succeeded and the close callback has not run yet */
  int js_alive;           /* wrapped by a live JS object */
  int cleanup_hook;       /* an env cleanup hook is registered for this wait */
  napi_ref callback;
  napi_async_context async_context;
} wait_t;

static void wait_maybe_free(wait_t* w) {
  if (!w->poll_open && !w->js_alive) free(w);
}

static void on_poll_closed(uv_handle_t* handle) {
  wait_t* w = (wait_t*)handle->data;
  if (w->dup_fd >= 0) {
    close(w->dup_fd);
    w->dup_fd = -1;
  }
  w->poll_open = 0;
  wait_maybe_free(w);
}

static void on_env_teardown(void* arg);

/* Leaves the PENDING state: stops polling now (the dup is closed in the close callback) and
 * releases the callback reference, the async context and the cleanup hook. */
static void wait_finish(wait_t* w, int from_cleanup_hook) {
  w->state = WAIT_DONE;
  if (w->cleanup_hook && !from_cleanup_hook) {
    napi_remove_env_cleanup_hook(w->env, on_env_teardown, w);
  }
  w->cleanup_hook = 0;
  if (w->callback != NULL) {
    napi_delete_reference(w->env, w->callback);
    w->callback = NULL;
  }
  if (w->async_context != NULL) {
    napi_async_destroy(w->env, w->async_context);
    w->async_context = NULL;
  }
  if (w->poll_open && !uv_is_closing((uv_handle_t*)&w->poll)) {
    uv_close((uv_handle_t*)&w->poll, on_poll_closed); /* stops the poll now; closes dup_fd later */
  }
}

/* The environment (a worker thread, or the main thread at exit) is going away with this wait
 * still pending: stop it, so no libuv handle outlives the environment. */
static void on_env_teardown(void* arg) {
  wait_t* w = (wait_t*)arg;
  w->cleanup_hook = 0;
  if (w->state == WAIT_PENDING) wait_finish(w, 1);
}

static void on_poll(uv_poll_t* handle, int status, int events) {
  wait_t* w = (wait_t*)handle->data;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_value callback = NULL, recv, argv[1], result;
  napi_async_context async_context;
  napi_status call_status;
  (void)events;

  if (w->state != WAIT_PENDING) return; /* cancelled in this same loop iteration */

  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    wait_finish(w, 0);
    return;
  }
  if (w->callback != NULL) napi_get_reference_value(env, w->callback, &callback);

  /* Keep the async context for the call; wait_finish would destroy it. */
  async_context = w->async_context;
  w->async_context = NULL;
  wait_finish(w, 0); /* one-shot: stop polling and drop the callback reference before calling */

  /* Writable, hung up, or in error (libuv reports POLLERR as UV_EBADF): all mean "try sending";
   * the next sendfile() reports the socket's real error. */
  (void)status;
  napi_get_null(env, &argv[0]);

  if (callback != NULL) {
    napi_get_global(env, &recv);
    call_status = napi_make_callback(env, async_context, recv, callback, 1, argv, &result);
    if (call_status == napi_pending_exception) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) {
        napi_fatal_exception(env, exception); /* 'uncaughtException', as for any I/O callback */
      }
    }
  }
  if (async_context != NULL) napi_async_destroy(env, async_context);
  napi_close_handle_scope(env, scope);
}

static void on_handle_finalized(napi_env env, void* data, void* hint) {
  wait_t* w = (wait_t*)data;
  (void)env;
  (void)hint;
  w->js_alive = 0;
  wait_maybe_free(w);
}

static napi_value js_wait_cancel(napi_env env, napi_callback_info info) {
  napi_value self;
  wait_t* w = NULL;
  if (napi_get_cb_info(env, info, NULL, NULL, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, (void**)&w) != napi_ok || w == NULL) {
    return throw_type(env, "cancel() called on an object that is not a whenWritable handle");
  }
  if (w->state == WAIT_PENDING) wait_finish(w, 0);
  return NULL;
}

static napi_value js_wait_constructor(napi_env env, napi_callback_info info) {
  napi_value self;
  napi_get_cb_info(env, info, NULL, NULL, &self, NULL);
  return self;
}

typedef struct {
  napi_ref wait_class;
} addon_data_t;

static void addon_data_free(napi_env env, void* data, void* hint) {
  addon_data_t* d = (addon_data_t*)data;
  (void)hint;
  if (d->wait_class != NULL) napi_delete_reference(env, d->wait_class);
  free(d);
}

static napi_value js_when_writable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], ctor, handle, name;
  napi_valuetype type;
  addon_data_t* data = NULL;
  uv_loop_t* loop = NULL;
  wait_t* w;
  int fd, dup_fd, rc;

  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 2) return throw_type(env, "whenWritable(socketFd, callback) takes 2 arguments");
  if (!get_fd(env, argv[0], "socketFd", &fd)) return NULL;
  if (napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) {
    return throw_type(env, "callback must be a function");
  }
  if (napi_get_instance_data(env, (void**)&data) != napi_ok || data == NULL ||
      napi_get_reference_value(env, data->wait_class, &ctor) != napi_ok || ctor == NULL) {
    return throw_with_code(env, "ERR_SENDFILE_INTERNAL", "strata_sendfile: module not initialised");
  }
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) {
    return throw_with_code(env, "ERR_SENDFILE_INTERNAL", "strata_sendfile: no event loop");
  }

  /* libuv keeps one watcher per fd number, and Node's own TCP handle already has this one. A dup is
   * a second fd for the same socket; epoll accepts it as a separate registration. */
  dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (dup_fd < 0) return throw_errno(env, "dup", "", errno);

  w = (wait_t*)calloc(1, sizeof(wait_t));
  if (w == NULL) {
    close(dup_fd);
    return throw_errno(env, "whenWritable", "", ENOMEM);
  }
  w->env = env;
  w->dup_fd = dup_fd;
  w->state = WAIT_PENDING;
  w->poll.data = w;

  rc = uv_poll_init(loop, &w->poll, dup_fd); /* fails (EPERM, ENOTSOCK...) for fds epoll can't watch */
  if (rc != 0) {
    close(dup_fd);
    free(w);
    return throw_errno(env, "uv_poll_init", "", -rc);
  }
  w->poll_open = 1;

  rc = uv_poll_start(&w->poll, UV_WRITABLE | UV_DISCONNECT, on_poll);
  if (rc != 0) {
    uv_close((uv_handle_t*)&w->poll, on_poll_closed); /* frees w (js_alive is 0) */
    return throw_errno(env, "uv_poll_start", "", -rc);
  }

  /* From here on, failures go through wait_finish + the close callback. */
  if (napi_new_instance(env, ctor, 0, NULL, &handle) != napi_ok ||
      napi_wrap(env, handle, w, on_handle_finalized, NULL, NULL) != napi_ok) {
    wait_finish(w, 0);
    return NULL; /* an exception is pending */
  }
  w->js_alive = 1;

  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok ||
      napi_create_string_utf8(env, "StrataWhenWritable", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, handle, name, &w->async_context) != napi_ok ||
      napi_add_env_cleanup_hook(env, on_env_teardown, w) != napi_ok) {
    wait_finish(w, 0);
    return NULL;
  }
  w->cleanup_hook = 1;
  return handle;
}

/* --------------------------------------------------------------------------------------------- */

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn, wait_class;
  addon_data_t* data;
  napi_property_descriptor cancel = {"cancel", NULL, js_wait_cancel, NULL, NULL, NULL, napi_default, NULL};

  data = (addon_data_t*)calloc(1, sizeof(addon_data_t));
  if (data == NULL) return NULL;
  if (napi_define_class(env, "WhenWritable", NAPI_AUTO_LENGTH, js_wait_constructor, NULL, 1, &cancel,
                        &wait_class) != napi_ok ||
      napi_create_reference(env, wait_class, 1, &data->wait_class) != napi_ok) {
    free(data);
    return NULL;
  }
  if (napi_set_instance_data(env, data, addon_data_free, NULL) != napi_ok) {
    napi_delete_reference(env, data->wait_class);
    free(data);
    return NULL;
  }

  if (napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, js_sendfile, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "sendfile", fn) != napi_ok) {
    return NULL;
  }
  if (napi_create_function(env, "whenWritable", NAPI_AUTO_LENGTH, js_when_writable, NULL, &fn) != napi_ok ||
      napi_set_named_property(env, exports, "whenWritable", fn) != napi_ok) {
    return NULL;
  }
  return exports;
}
