//! Small macros shared by the row types.

/// Implements `as_str`, `ALL`, `FromStr` and `Display` for a fieldless enum from one table of
/// variant => wire name, so the name used in storage and on the wire is written once.
macro_rules! string_enum {
    ($type:ty, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $type {
            /// Every value, in declaration order.
            pub const ALL: &'static [$type] = &[$(<$type>::$variant),+];

            /// The wire name (as in the Meilisearch API and in storage).
            pub const fn as_str(self) -> &'static str {
                match self { $(<$type>::$variant => $text),+ }
            }
        }

        impl ::std::str::FromStr for $type {
            type Err = $crate::error::StoreError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok(<$type>::$variant),)+
                    other => Err($crate::error::StoreError::invalid(format_args!(concat!("unknown ", $what, " `{}`"), other))),
                }
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}
