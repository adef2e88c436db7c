;; Toxic skill: recurses without end until the sandbox's stack bound stops it.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func $down (param i64) (result i64)
    (call $down (i64.add (local.get 0) (i64.const 1))))
  (func (export "run") (param i32 i32) (result i64)
    (call $down (i64.const 0))))
