;; Toxic skill: never returns. The sandbox stops it when its fuel runs out.
(module
  (memory (export "memory") 1)
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "run") (param i32 i32) (result i64)
    (loop (br 0))
    (i64.const 0)))
