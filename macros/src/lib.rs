//! Derives for Orrery workloads, re-exported by `orrery_sim`: `#[derive(Params)]` for a
//! workload's typed parameters and `#[derive(Choice)]` for enums a parameter picks from.
//! The generated code names `::orrery_sim`, so it works in any crate that depends on it.

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput, Expr, Fields, Lit, LitStr, Meta};

/// Implements `orrery_sim::workload::Params` and `Default` for a struct with named fields.
///
/// Every field needs a `///` doc line (it is what `orrery list` shows) and a type that
/// implements `ParamType`. Field attributes: `#[param(default = EXPR)]` (else the type's
/// `Default`), `#[param(min = N)]`, `#[param(max = N)]` (integers), `#[param(shrink)]`
/// (shrinking may lower it).
#[proc_macro_derive(Params, attributes(param))]
pub fn derive_params(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match params(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

/// Implements `orrery_sim::workload::Choice` for an enum of unit variants: each variant's
/// name is its snake_case spelling unless `#[choice(name = "...")]` says otherwise.
#[proc_macro_derive(Choice, attributes(choice))]
pub fn derive_choice(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match choice(&input) {
        Ok(tokens) => tokens.into(),
        Err(error) => error.to_compile_error().into(),
    }
}

struct FieldAttrs {
    default: Option<Expr>,
    min: Option<Expr>,
    max: Option<Expr>,
    shrink: bool,
}

fn params(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(name, "Params derives only for structs"));
    };
    let Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(name, "Params needs a struct with named fields"));
    };
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    let mut specs = Vec::new();
    let mut reads = Vec::new();
    let mut defaults = Vec::new();
    for field in &fields.named {
        let ident = field.ident.as_ref().expect("named field");
        let key = ident.to_string();
        let ty = &field.ty;
        let doc = doc_line(&field.attrs).ok_or_else(|| {
            syn::Error::new_spanned(
                ident,
                format!("parameter `{key}` needs a `///` doc line: it is what `orrery list` shows"),
            )
        })?;
        let attrs = field_attrs(&field.attrs)?;
        let default = match &attrs.default {
            Some(expr) => quote! { #expr },
            None => quote! { <#ty as ::core::default::Default>::default() },
        };
        let min = option(&attrs.min);
        let max = option(&attrs.max);
        let shrink = attrs.shrink;
        specs.push(quote! {
            ::orrery_sim::workload::ParamSpec {
                name: #key,
                kind: <#ty as ::orrery_sim::workload::ParamType>::kind().bounded(#min, #max),
                default: ::orrery_sim::workload::ParamType::to_value(&{
                    let value: #ty = #default;
                    value
                }),
                doc: #doc,
                shrink: #shrink,
            }
        });
        reads.push(quote! { #ident: ::orrery_sim::workload::field::<#ty>(map, #key)? });
        defaults.push(quote! { #ident: #default });
    }
    Ok(quote! {
        impl #impl_generics ::orrery_sim::workload::Params for #name #type_generics #where_clause {
            fn specs() -> ::std::vec::Vec<::orrery_sim::workload::ParamSpec> {
                ::std::vec![#(#specs),*]
            }
            fn from_map(
                map: &::orrery_sim::workload::ParamMap,
            ) -> ::core::result::Result<Self, ::std::string::String> {
                ::core::result::Result::Ok(#name { #(#reads),* })
            }
        }
        impl #impl_generics ::core::default::Default for #name #type_generics #where_clause {
            fn default() -> Self {
                #name { #(#defaults),* }
            }
        }
    })
}

fn option(expr: &Option<Expr>) -> proc_macro2::TokenStream {
    match expr {
        Some(expr) => quote! { ::core::option::Option::Some((#expr) as i64) },
        None => quote! { ::core::option::Option::None },
    }
}

/// The `///` comment of an item, its lines joined by spaces.
fn doc_line(attrs: &[syn::Attribute]) -> Option<String> {
    let lines: Vec<String> = attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(lit) => match &lit.lit {
                    Lit::Str(text) => Some(text.value().trim().to_string()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .filter(|line| !line.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join(" "))
}

fn field_attrs(attrs: &[syn::Attribute]) -> syn::Result<FieldAttrs> {
    let mut out = FieldAttrs { default: None, min: None, max: None, shrink: false };
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("param")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("shrink") {
                out.shrink = true;
                return Ok(());
            }
            let slot = if meta.path.is_ident("default") {
                &mut out.default
            } else if meta.path.is_ident("min") {
                &mut out.min
            } else if meta.path.is_ident("max") {
                &mut out.max
            } else {
                return Err(
                    meta.error("expected `default = EXPR`, `min = N`, `max = N` or `shrink`")
                );
            };
            *slot = Some(meta.value()?.parse::<Expr>()?);
            Ok(())
        })?;
    }
    Ok(out)
}

fn choice(input: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let name = &input.ident;
    let Data::Enum(data) = &input.data else {
        return Err(syn::Error::new_spanned(name, "Choice derives only for enums"));
    };
    let mut names = Vec::new();
    let mut variants = Vec::new();
    for variant in &data.variants {
        if !matches!(variant.fields, Fields::Unit) {
            return Err(syn::Error::new_spanned(variant, "a Choice variant carries no data"));
        }
        let mut choice_name = snake_case(&variant.ident.to_string());
        for attr in variant.attrs.iter().filter(|attr| attr.path().is_ident("choice")) {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("name") {
                    choice_name = meta.value()?.parse::<LitStr>()?.value();
                    Ok(())
                } else {
                    Err(meta.error("expected `name = \"...\"`"))
                }
            })?;
        }
        names.push(LitStr::new(&choice_name, Span::call_site()));
        variants.push(&variant.ident);
    }
    let (impl_generics, type_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics ::orrery_sim::workload::Choice for #name #type_generics #where_clause {
            const NAMES: &'static [&'static str] = &[#(#names),*];
            fn from_name(name: &str) -> ::core::option::Option<Self> {
                match name {
                    #(#names => ::core::option::Option::Some(#name::#variants),)*
                    _ => ::core::option::Option::None,
                }
            }
            fn name(self) -> &'static str {
                match self {
                    #(#name::#variants => #names,)*
                }
            }
        }
        impl #impl_generics ::core::fmt::Display for #name #type_generics #where_clause {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(::orrery_sim::workload::Choice::name(*self))
            }
        }
    })
}

/// `EarlyAck` → `early_ack`, `HTTPServer` → `http_server`.
fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::new();
    for (i, c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let previous_lower = i > 0 && chars[i - 1].is_lowercase();
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let previous_upper = i > 0 && chars[i - 1].is_uppercase();
            if i > 0 && (previous_lower || (previous_upper && next_lower)) {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}
