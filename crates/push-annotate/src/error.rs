//! The error of a refused policy change.

use core::ffi::c_int;
use core::fmt;

/// Why the runtime refused a policy change.
///
/// The runtime has already printed an `annotation error` report for it (and
/// counts it toward the exit status); the object's policy did not change.
/// Without the runtime, policy changes always succeed.
///
/// ```
/// use push_annotate::PolicyError;
///
/// let e = PolicyError::NotPermitted;
/// assert_eq!(e.errno(), libc::EPERM);
/// assert_eq!(PolicyError::from_errno(libc::EINVAL), Some(PolicyError::InvalidArgument));
/// assert_eq!(PolicyError::from_errno(0), None);
/// let io: std::io::Error = e.into();
/// assert_eq!(io.raw_os_error(), Some(libc::EPERM));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyError {
    /// `EINVAL`: the pointer is not inside a tracked object, or the lock or
    /// the thread named is not usable (a null lock, a thread that exited).
    InvalidArgument,
    /// `EPERM`: the calling thread may not change this object's policy (it
    /// is neither the owner of a private object nor a holder of the
    /// protecting lock, and the object is not read-only, released or racy).
    NotPermitted,
    /// Another `errno` value from the runtime.
    Other(i32),
}

impl PolicyError {
    /// The `errno` value the C API returned.
    ///
    /// ```
    /// assert_eq!(push_annotate::PolicyError::Other(12).errno(), 12);
    /// ```
    pub fn errno(self) -> i32 {
        match self {
            PolicyError::InvalidArgument => libc::EINVAL,
            PolicyError::NotPermitted => libc::EPERM,
            PolicyError::Other(e) => e,
        }
    }

    /// The error for a C API return value: `None` for 0 (success).
    ///
    /// ```
    /// use push_annotate::PolicyError;
    /// assert_eq!(PolicyError::from_errno(libc::EPERM), Some(PolicyError::NotPermitted));
    /// assert_eq!(PolicyError::from_errno(libc::ENOMEM), Some(PolicyError::Other(libc::ENOMEM)));
    /// ```
    pub fn from_errno(rc: i32) -> Option<PolicyError> {
        match rc {
            0 => None,
            libc::EINVAL => Some(PolicyError::InvalidArgument),
            libc::EPERM => Some(PolicyError::NotPermitted),
            e => Some(PolicyError::Other(e)),
        }
    }

    pub(crate) fn check(rc: c_int) -> Result<(), PolicyError> {
        match PolicyError::from_errno(rc) {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::InvalidArgument => f.write_str(
                "PUSh refused the policy change: not a tracked object, or an unusable lock or thread (EINVAL)",
            ),
            PolicyError::NotPermitted => f.write_str(
                "PUSh refused the policy change: the calling thread may not change this object's policy (EPERM)",
            ),
            PolicyError::Other(e) => write!(f, "PUSh refused the policy change (errno {e})"),
        }
    }
}

impl std::error::Error for PolicyError {}

impl From<PolicyError> for std::io::Error {
    fn from(e: PolicyError) -> Self {
        std::io::Error::from_raw_os_error(e.errno())
    }
}
