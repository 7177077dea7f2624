//! Handing the memory a tick freed back to the operating system.
//!
//! A tick holds a chunk's histories, the recommendations and the API
//! answers, and frees them when it ends; glibc's allocator keeps most freed
//! pages mapped for reuse, so without this the operator's RSS between ticks
//! stays near the tick's peak (measured with the fleet benchmark: 166 MiB
//! instead of 111 after a tick over 1,000 autoscalers with history from
//! Prometheus).

/// Return the free pages of every allocator arena to the operating system
/// (glibc's `malloc_trim(0)`). Call it when a tick has ended and its data
/// are dropped; it costs a walk over the free lists. Does nothing where the
/// C library is not glibc.
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[allow(unsafe_code)]
        // SAFETY: `malloc_trim` takes no pointer and only gives unused pages
        // back (`madvise`); it takes each arena's lock, so it is safe to call
        // from any thread at any time.
        unsafe {
            unsafe extern "C" {
                fn malloc_trim(pad: usize) -> std::ffi::c_int;
            }
            malloc_trim(0);
        }
    }
}
