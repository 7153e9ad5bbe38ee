#![forbid(unsafe_code)]

use socket_api::{StackBuilder, TcpListener, TcpStream};
use std::io::{Read, Write};
use std::thread;

fn main() {
    // One line on error (`first_app: tap 'tap0' is busy ...`), not a Debug dump.
    if let Err(e) = run() {
        eprintln!("first_app: {e}");
        std::process::exit(1);
    }
}

fn run() -> std::io::Result<()> {
    // The stack at 10.0.0.1/24 on tap0, the kernel's side of the tap at 10.0.0.2/24.
    let stack = StackBuilder::new()
        .tap("tap0")
        .addr("10.0.0.1/24")
        .host_addr("10.0.0.2/24")
        .build()?;

    // A TCP echo server on port 7: a thread per connection, as with std::net.
    let listener = TcpListener::bind(&stack, "0.0.0.0:7")?;
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = conn.read(&mut buf) {
                    if conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });

    // A client on the same stack, talking to the stack's own address.
    let mut client = TcpStream::connect(&stack, "10.0.0.1:7")?;
    client.write_all(b"hello, stack")?;
    let mut reply = [0u8; 12];
    client.read_exact(&mut reply)?;
    println!("echoed: {}", String::from_utf8_lossy(&reply));
    println!("serving on 10.0.0.1:7: try `nc 10.0.0.1 7`; Ctrl-C stops");
    loop {
        thread::park();
    }
}
