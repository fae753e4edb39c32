// NOT Unreal: the few Core types and reflection macros FacecastReceiverComponent.h uses (see README.md).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

using int32 = std::int32_t;
using int64 = std::int64_t;
using uint8 = std::uint8_t;
using uint16 = std::uint16_t;
using uint32 = std::uint32_t;
using TCHAR = char16_t;
#define TEXT(x) u##x

// UnrealHeaderTool reads these; the C++ compiler sees nothing.
#define UCLASS(...)
#define UPROPERTY(...)
#define UFUNCTION(...)

class FString
{
public:
	FString() = default;
	FString(const TCHAR* Text) : Chars(Text) {}
private:
	std::u16string Chars;
};

class FName
{
public:
	FName() = default;
	FName(const TCHAR* Text) : Chars(Text) {}
	bool operator<(const FName& Other) const { return Chars < Other.Chars; }
private:
	std::u16string Chars;
};

template <typename T> class TArray : public std::vector<T> {};
template <typename K, typename V> class TMap : public std::map<K, V> {};

struct FVector
{
	double X = 0, Y = 0, Z = 0;
	static const FVector ZeroVector;
};
inline const FVector FVector::ZeroVector{};

// Like Unreal's TSharedPtr, the deleter is bound where the object is made (MakeShared), so the pointer may
// be declared, copied and destroyed where its type is incomplete.
enum class ESPMode : uint8 { NotThreadSafe, ThreadSafe };
template <typename T, ESPMode Mode = ESPMode::ThreadSafe> class TSharedPtr : public std::shared_ptr<T>
{
	using std::shared_ptr<T>::shared_ptr;
};

// An object pointer the garbage collector sees; a plain pointer to the compiler.
template <typename T> class TObjectPtr
{
public:
	TObjectPtr() = default;
	TObjectPtr(T* InObject) : Object(InObject) {}
	T* Get() const { return Object; }
private:
	T* Object = nullptr;
};

#define DECLARE_DYNAMIC_MULTICAST_DELEGATE_OneParam(DelegateName, Param1Type, Param1Name) \
	class DelegateName                                                                    \
	{                                                                                     \
	public:                                                                               \
		void Broadcast(Param1Type Param1Name) const { (void)Param1Name; }                 \
	};
