//! Async child processes, process-exit watching and signal streams over PROC and SIGNAL knotes. (Work in progress.)
