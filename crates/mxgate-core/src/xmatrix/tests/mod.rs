//! Header grammar tables and the spec signing vector; signing properties are in
//! [`signing`].

mod signing;

use ed25519_dalek::{Signer, SigningKey};

use super::*;
use crate::ids::IdError;
use crate::json::decode_base64;

/// The spec's signature of `{}` by the appendix example key `ed25519:1`.
const SPEC_SIG: &str =
    "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ";

/// The seed of the spec appendix "Signing JSON" example key.
pub(super) fn spec_key() -> SigningKey {
    let seed = decode_base64("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").unwrap();
    SigningKey::from_bytes(&seed.try_into().unwrap())
}

fn spec_sig() -> [u8; 64] {
    decode_base64(SPEC_SIG).unwrap().try_into().unwrap()
}

pub(super) fn name(s: &str) -> ServerName {
    ServerName::parse(s).unwrap()
}

/// (origin, destination, key, sig) of a parse result, for table comparison.
type Fields = (String, Option<String>, String, [u8; 64]);

fn fields(xm: &XMatrix) -> Fields {
    let destination = xm.destination.as_ref().map(|d| d.to_string());
    (
        xm.origin.to_string(),
        destination,
        xm.key.to_string(),
        xm.sig.to_bytes(),
    )
}

fn ok(
    origin: &str,
    destination: Option<&str>,
    key: &str,
    sig: [u8; 64],
) -> Result<Fields, XMatrixError> {
    Ok((origin.into(), destination.map(Into::into), key.into(), sig))
}

#[test]
fn spec_example_key_signs_empty_object() {
    let sig = spec_key().sign(b"{}");
    assert_eq!(sig.to_bytes(), spec_sig());
    let xm = XMatrix {
        origin: name("domain"),
        destination: None,
        key: KeyId::parse("ed25519:1").unwrap(),
        sig,
    };
    assert_eq!(
        xm.to_header_value(),
        format!("X-Matrix origin=\"domain\",key=\"ed25519:1\",sig=\"{SPEC_SIG}\"")
    );
}

#[test]
fn header_table() {
    let s = spec_sig();
    let zero_b64 = "A".repeat(86);
    let z = [0u8; 64];
    let short_b64 = "A".repeat(43);
    let full = |extra: &str| {
        format!("X-Matrix origin=\"a.org\",key=\"ed25519:1\",sig=\"{SPEC_SIG}\"{extra}")
    };
    let malformed = |what| Err(XMatrixError::Malformed(what));
    let cases: Vec<(String, Result<Fields, XMatrixError>)> = vec![
        // Accepted forms.
        (
            format!(
                "X-Matrix origin=\"a.org:8448\",key=\"ed25519:1\",sig=\"{SPEC_SIG}\",destination=\"b.org\""
            ),
            ok("a.org:8448", Some("b.org"), "ed25519:1", s),
        ),
        (
            format!("X-Matrix origin=a.org:8448,key=\"ed25519:1\",sig=\"{SPEC_SIG}\""),
            ok("a.org:8448", None, "ed25519:1", s),
        ),
        (
            format!(
                "X-Matrix origin=a.org,key=ed25519:k_1,sig={zero_b64},destination=127.0.0.1:8481"
            ),
            ok("a.org", Some("127.0.0.1:8481"), "ed25519:k_1", z),
        ),
        (
            format!("x-matrix origin=a.org,key=ed25519:1,sig={zero_b64}"),
            ok("a.org", None, "ed25519:1", z),
        ),
        (
            format!("X-MATRIX    origin=a.org,key=ed25519:1,sig={zero_b64}"),
            ok("a.org", None, "ed25519:1", z),
        ),
        (
            format!("X-Matrix origin=\"a.org\" ,  key=\"ed25519:1\",\tsig=\"{SPEC_SIG}\""),
            ok("a.org", None, "ed25519:1", s),
        ),
        (
            format!("X-Matrix origin = \"a.org\",key\t=\t\"ed25519:1\",sig= \"{SPEC_SIG}\""),
            ok("a.org", None, "ed25519:1", s),
        ),
        (
            format!(
                "X-Matrix ORIGIN=\"a.org\",Key=\"ed25519:1\",SIG=\"{SPEC_SIG}\",DeStInAtIoN=\"b.org\""
            ),
            ok("a.org", Some("b.org"), "ed25519:1", s),
        ),
        (
            format!("X-Matrix origin=\"\\a\\.\\o\\r\\g\",key=\"ed25519:\\1\",sig=\"{SPEC_SIG}\""),
            ok("a.org", None, "ed25519:1", s),
        ),
        (
            format!(
                "X-Matrix foo=\"bar\",origin=\"a.org\",x=y,key=\"ed25519:1\",sig=\"{SPEC_SIG}\""
            ),
            ok("a.org", None, "ed25519:1", s),
        ),
        (
            full(",note=\"h\u{e4}h \\\" \\\\ \t\""),
            ok("a.org", None, "ed25519:1", s),
        ),
        (full(","), ok("a.org", None, "ed25519:1", s)),
        (
            format!("X-Matrix ,origin=\"a.org\",,key=\"ed25519:1\", ,sig=\"{SPEC_SIG}\",,"),
            ok("a.org", None, "ed25519:1", s),
        ),
        (
            format!("X-Matrix origin=\"a.org\",key=\"ed25519:1\",sig=\"{SPEC_SIG}==\""),
            ok("a.org", None, "ed25519:1", s),
        ),
        (
            full(",destination=\"[::1]:8448\""),
            ok("a.org", Some("[::1]:8448"), "ed25519:1", s),
        ),
        (
            format!(" \tX-Matrix origin=a.org,key=ed25519:1,sig={zero_b64} \t"),
            ok("a.org", None, "ed25519:1", z),
        ),
        // Refused forms.
        (String::new(), Err(XMatrixError::NotXMatrix)),
        ("Bearer abc".into(), Err(XMatrixError::NotXMatrix)),
        (
            format!("X-Matrixorigin=a.org,key=ed25519:1,sig={zero_b64}"),
            Err(XMatrixError::NotXMatrix),
        ),
        (
            "X-Matrix".into(),
            malformed("expected a space after X-Matrix"),
        ),
        (
            format!("X-Matrix\torigin=a.org,key=ed25519:1,sig={zero_b64}"),
            malformed("expected a space after X-Matrix"),
        ),
        (
            format!("X-Matrix \torigin=a.org,key=ed25519:1,sig={zero_b64}"),
            malformed("expected a space after X-Matrix"),
        ),
        (
            format!("X-Matrix key=\"ed25519:1\",sig=\"{SPEC_SIG}\""),
            Err(XMatrixError::MissingParam("origin")),
        ),
        (
            format!("X-Matrix origin=\"a.org\",sig=\"{SPEC_SIG}\""),
            Err(XMatrixError::MissingParam("key")),
        ),
        (
            "X-Matrix origin=\"a.org\",key=\"ed25519:1\",destination=\"b.org\"".into(),
            Err(XMatrixError::MissingParam("sig")),
        ),
        (full(",origin=\"a.org\""), Err(XMatrixError::DuplicateParam)),
        (full(",ORIGIN=\"c.org\""), Err(XMatrixError::DuplicateParam)),
        (full(",foo=1,Foo=2"), Err(XMatrixError::DuplicateParam)),
        (
            full(",destination=\"b.org\",destination=\"b.org\""),
            Err(XMatrixError::DuplicateParam),
        ),
        (
            format!("X-Matrix origin=,key=\"ed25519:1\",sig=\"{SPEC_SIG}\""),
            malformed("expected a parameter value"),
        ),
        (
            format!("X-Matrix origin=\"\",key=\"ed25519:1\",sig=\"{SPEC_SIG}\""),
            Err(XMatrixError::BadOrigin(IdError::Empty)),
        ),
        (
            full(",destination=\"\""),
            Err(XMatrixError::BadDestination(IdError::Empty)),
        ),
        (
            full(",destination=\"b.org:99999\""),
            Err(XMatrixError::BadDestination(IdError::BadPort)),
        ),
        (
            full(",note=\"open"),
            malformed("unterminated quoted string"),
        ),
        (full(",note=\"ends in \\"), malformed("bad quoted-pair")),
        (
            full(",origin\"a.org\""),
            malformed("expected '=' after a parameter name"),
        ),
        (full(",=1"), malformed("expected a parameter name")),
        (
            format!("X-Matrix origin=\"a.org\" key=\"ed25519:1\",sig=\"{SPEC_SIG}\""),
            malformed("expected ',' after a parameter"),
        ),
        (
            format!("X-Matrix origin=a.org,key=ed25519:1,sig={SPEC_SIG}"),
            malformed("expected ',' after a parameter"),
        ),
        (
            "X-Matrix abc==".into(),
            malformed("expected a parameter value"),
        ),
        (
            full(",note=\"a\u{1}b\""),
            malformed("control character in quoted string"),
        ),
        (
            full(",note=\"a\nb\""),
            malformed("control character in quoted string"),
        ),
        (
            full("\r\n,x=1"),
            malformed("expected ',' after a parameter"),
        ),
        (
            full(",p0=0,p1=1,p2=2,p3=3,p4=4,p5=5,p6=6,p7=7,p8=8,p9=9,pa=a,pb=b,pc=c,pd=d"),
            malformed("too many parameters"),
        ),
        (
            format!("X-Matrix origin=\"ex\u{e4}mple.org\",key=\"ed25519:1\",sig=\"{SPEC_SIG}\""),
            Err(XMatrixError::BadOrigin(IdError::BadHost)),
        ),
        (
            format!("X-Matrix origin=\"a.org\",key=\"curve25519:1\",sig=\"{SPEC_SIG}\""),
            Err(XMatrixError::BadKeyId(IdError::UnsupportedAlgorithm)),
        ),
        (
            format!("X-Matrix origin=\"a.org\",key=\"ed25519:a-b\",sig=\"{SPEC_SIG}\""),
            Err(XMatrixError::BadKeyId(IdError::BadKeyId)),
        ),
        (
            "X-Matrix origin=\"a.org\",key=\"ed25519:1\",sig=\"!!!!\"".into(),
            Err(XMatrixError::BadSigEncoding),
        ),
        (
            "X-Matrix origin=\"a.org\",key=\"ed25519:1\",sig=\"\"".into(),
            Err(XMatrixError::BadSigLength),
        ),
        (
            format!("X-Matrix origin=\"a.org\",key=\"ed25519:1\",sig=\"{short_b64}\""),
            Err(XMatrixError::BadSigLength),
        ),
        (
            format!("X-Matrix origin=\"a.org\",key=\"ed25519:1\",sig=\"{SPEC_SIG}AA\""),
            Err(XMatrixError::BadSigLength),
        ),
    ];
    for (input, expected) in &cases {
        let got = XMatrix::parse(input.as_bytes()).map(|xm| fields(&xm));
        assert_eq!(&got, expected, "{input:?}");
    }
    assert!(cases.len() >= 50);
}

#[test]
fn non_utf8_values() {
    let input = [
        b"X-Matrix origin=\"\xff\",key=\"ed25519:1\",sig=\"".as_slice(),
        SPEC_SIG.as_bytes(),
        b"\"",
    ]
    .concat();
    assert_eq!(XMatrix::parse(&input), Err(XMatrixError::NotUtf8("origin")));
    let ignored = [
        format!("X-Matrix origin=a.org,key=ed25519:1,sig=\"{SPEC_SIG}\",x=\"").as_bytes(),
        b"\xff\xfe\"",
    ]
    .concat();
    assert_eq!(
        XMatrix::parse(&ignored).map(|xm| xm.origin),
        Ok(name("a.org"))
    );
}

#[test]
fn from_headers_wants_exactly_one() {
    let value = format!("X-Matrix origin=a.org,key=ed25519:1,sig=\"{SPEC_SIG}\"");
    let none: [&[u8]; 0] = [];
    assert_eq!(
        XMatrix::from_headers(none),
        Err(XMatrixError::MissingAuthorization)
    );
    let two = [value.as_bytes(), value.as_bytes()];
    assert_eq!(
        XMatrix::from_headers(two),
        Err(XMatrixError::MultipleAuthorization)
    );
    let one = XMatrix::from_headers([value.as_bytes()]).unwrap();
    assert_eq!(one.sig.to_bytes(), spec_sig());
    let bad = XMatrix::from_headers([b"Basic Zm9v".as_slice()]);
    assert_eq!(bad.map_err(|e| e.reason()), Err("not_x_matrix"));
}
